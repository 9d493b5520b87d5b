"""A minimal PDF writer for test and benchmark documents with visible and hidden text runs.

Writing the objects by hand keeps one small dependency-free tool for both the tests and the
benchmark: each run is placed with its own font size, fill colour and render mode, which is all a
hidden-text attack needs (white text, 0.5 pt text, render mode 3, text placed off the page).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass


@dataclass(frozen=True)
class Run:
    text: str
    size: float = 11.0
    rgb: tuple[float, float, float] = (0.0, 0.0, 0.0)
    render_mode: int = 0
    x: float = 72.0
    y: float | None = None
    """``None``: the next line below the previous run."""


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _content(runs: list[Run]) -> bytes:
    lines: list[str] = []
    y = 740.0
    for run in runs:
        for piece in textwrap.wrap(run.text, 90) or [""]:
            at_y = run.y if run.y is not None else y
            r, g, b = run.rgb
            lines.append(
                f"BT /F1 {run.size:g} Tf {r:g} {g:g} {b:g} rg {run.render_mode} Tr "
                f"1 0 0 1 {run.x:g} {at_y:g} Tm ({_escape(piece)}) Tj ET"
            )
            if run.y is None:
                y -= max(run.size, 1.0) * 1.3
    return "\n".join(lines).encode("latin-1", errors="replace")


def make_pdf(runs: list[Run], *, title: str = "", subject: str = "") -> bytes:
    """One page (US letter) with ``runs`` in Helvetica; ``title``/``subject`` go to the Info dictionary."""
    content = _content(runs)
    info = f"<< /Title ({_escape(title)}) /Subject ({_escape(subject)}) >>".encode("latin-1", errors="replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        info,
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
