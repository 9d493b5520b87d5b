"""Adapter weight digests (``gateway.finetune.integrity``): table-driven, on real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.finetune.integrity import AdapterIntegrityError, adapter_digest, verify_adapter


def _adapter(root: Path, weights: bytes = b"\x00\x01weights", config: str = '{"r": 8}') -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "adapter_config.json").write_text(config)
    (root / "adapter_model.safetensors").write_bytes(weights)
    (root / "model_card.md").write_text("# card")
    return root


def test_the_digest_is_stable_and_ignores_the_model_card(tmp_path: Path) -> None:
    folder = _adapter(tmp_path / "a")
    first = adapter_digest(folder)
    (folder / "model_card.md").write_text("# the gates rewrote the card")
    assert adapter_digest(folder) == first and len(first) == 64
    verify_adapter(folder, first)


CHANGES = [
    ("one weight byte flipped", lambda f: (f / "adapter_model.safetensors").write_bytes(b"\x00\x02weights")),
    ("weights appended", lambda f: (f / "adapter_model.safetensors").write_bytes(b"\x00\x01weights\x00")),
    ("config edited", lambda f: (f / "adapter_config.json").write_text('{"r": 16}')),
    ("a .bin beside the safetensors", lambda f: (f / "adapter_model.bin").write_bytes(b"pickle")),
    ("weights removed", lambda f: (f / "adapter_model.safetensors").unlink()),
    ("directory removed", lambda f: [p.unlink() for p in f.iterdir()] and f.rmdir()),
]


@pytest.mark.parametrize(("name", "change"), CHANGES, ids=[c[0] for c in CHANGES])
def test_any_change_to_what_peft_loads_is_refused(tmp_path: Path, name: str, change: object) -> None:
    folder = _adapter(tmp_path / "a")
    digest = adapter_digest(folder)
    change(folder)  # type: ignore[operator]
    with pytest.raises(AdapterIntegrityError):
        verify_adapter(folder, digest)


@pytest.mark.parametrize("expected", [None, ""])
def test_an_adapter_without_a_registered_digest_is_refused(tmp_path: Path, expected: str | None) -> None:
    with pytest.raises(AdapterIntegrityError, match="no integrity digest"):
        verify_adapter(_adapter(tmp_path / "a"), expected)


def test_a_directory_without_weights_has_no_digest(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "adapter_config.json").write_text("{}")
    with pytest.raises(AdapterIntegrityError, match="no weights"):
        adapter_digest(folder)
