"""Integrity of adapter weights: a SHA-256 over the files peft loads, taken when the adapter is
registered and checked before it is activated and before any process loads it.

Gates certify one set of weights. Without a digest, whoever can write the data directory could
swap ``adapter_model.safetensors`` after the gates passed and have it served. The digest lives in
SQL beside the gate report (``finetune_adapters.digest``); the files are hashed again at activation
and at the first load in each process (a loaded adapter stays in memory, so later changes to the
files cannot reach it).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

WEIGHT_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")
"""What peft reads from an adapter directory (the model card is documentation, not weights)."""
_CHUNK = 1 << 20


class AdapterIntegrityError(Exception):
    """The adapter's files are missing or differ from the ones registered."""


def adapter_digest(directory: Path | str) -> str:
    """``sha256`` over each weight file's name, size and bytes, in a fixed order.

    Raises:
        AdapterIntegrityError: the directory holds no adapter weights.
    """
    root = Path(directory)
    present = [name for name in WEIGHT_FILES if (root / name).is_file()]
    if not any(name.startswith("adapter_model") for name in present):
        raise AdapterIntegrityError("the adapter directory holds no weights")
    digest = hashlib.sha256()
    for name in present:
        path = root / name
        digest.update(f"{name}\0{path.stat().st_size}\0".encode())
        with path.open("rb") as handle:
            while block := handle.read(_CHUNK):
                digest.update(block)
    return digest.hexdigest()


def verify_adapter(directory: Path | str, expected: str | None) -> None:
    """Raise unless the files in ``directory`` hash to ``expected``.

    Raises:
        AdapterIntegrityError: no digest was registered, the files are gone, or they changed.
    """
    if not expected:
        raise AdapterIntegrityError("no integrity digest was registered for this adapter")
    try:
        actual = adapter_digest(directory)
    except OSError as exc:
        raise AdapterIntegrityError(f"the adapter's files cannot be read ({type(exc).__name__})") from None
    if actual != expected:
        raise AdapterIntegrityError("the adapter's files changed since it was registered")
