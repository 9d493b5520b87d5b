"""PDF text a reader would not see: white or invisible text, microscopic fonts, text off the page.

pypdf's text extraction calls back for every operator and every text run with the current
transformation matrices; this module tracks the fill colour and text render mode through the
graphics-state stack (``q``/``Q``) and sorts each run into what a viewer paints and what it does
not. An OCR layer (invisible text over a scanned image) is the one common legitimate use of
invisible text and is reported apart, so the policy can leave it alone.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from typing import Any

from pypdf import PdfReader

TINY_PT = 1.5
"""Effective font size (points, after the matrices) below which text is unreadable."""
OFF_PAGE_PT = 20.0
_WHITE_ENOUGH = 0.97

logging.getLogger("pypdf").setLevel(logging.ERROR)  # malformed input warnings are not our log's business


@dataclass
class PdfReading:
    """Hidden text per technique, the metadata fields, and whether pages draw images."""

    hidden: dict[str, list[str]] = field(default_factory=dict)
    metadata: list[str] = field(default_factory=list)
    has_images: bool = False


@dataclass
class _State:
    fill: tuple[float, ...] = (0.0,)
    render_mode: int = 0


class _PageWalker:
    def __init__(self, reading: PdfReading, box: tuple[float, float, float, float]) -> None:
        self.reading = reading
        self.box = box
        self.state = _State()
        self.saved: list[_State] = []

    def operator(self, op: bytes, args: list[Any], cm: list[float], tm: list[float]) -> None:
        if op == b"q":
            self.saved.append(_State(self.state.fill, self.state.render_mode))
        elif op == b"Q" and self.saved:
            self.state = self.saved.pop()
        elif op in (b"rg", b"g", b"k", b"sc", b"scn") and args:
            fill = tuple(float(a) for a in args if _is_number(a))
            self.state.fill = _cmyk_to_rgb(fill) if op == b"k" else fill
        elif op == b"Tr" and args and _is_number(args[0]):
            self.state.render_mode = int(float(args[0]))
        elif op == b"Do":
            self.reading.has_images = True

    def text(self, text: str, cm: list[float], tm: list[float], font: Any, size: float) -> None:
        if not text.strip():
            return
        technique = self._technique(cm, tm, size)
        if technique:
            self.reading.hidden.setdefault(technique, []).append(text.strip())

    def _technique(self, cm: list[float], tm: list[float], size: float) -> str | None:
        if self.state.render_mode in (3, 7):
            return "invisible_render_mode"
        if self.state.fill and min(self.state.fill) >= _WHITE_ENOUGH:
            return "white_text"
        scale = abs(tm[3] * cm[3]) or abs(tm[0] * cm[0]) or 1.0
        if 0 < size * scale < TINY_PT:
            return "tiny_text"
        x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        x0, y0, x1, y1 = self.box
        if x < x0 - OFF_PAGE_PT or x > x1 + OFF_PAGE_PT or y < y0 - OFF_PAGE_PT or y > y1 + OFF_PAGE_PT:
            return "off_page"
        return None


def read_pdf(raw: bytes) -> PdfReading:
    """Walk every page of ``raw``; an unreadable PDF gives an empty reading (the parser refuses it)."""
    reading = PdfReading()
    try:
        reader = PdfReader(io.BytesIO(raw), strict=False)
        if reader.is_encrypted:
            return reading
        info: dict[str, object] = dict(reader.metadata or {})
        reading.metadata = [str(v) for v in info.values() if isinstance(v, str) and v.strip()]
        for page in reader.pages:
            box = page.mediabox
            walker = _PageWalker(reading, (float(box.left), float(box.bottom), float(box.right), float(box.top)))
            page.extract_text(visitor_operand_before=walker.operator, visitor_text=walker.text)
    except Exception:  # pypdf raises many types on malformed input; the parser reports it
        return PdfReading()
    return reading


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _cmyk_to_rgb(cmyk: tuple[float, ...]) -> tuple[float, ...]:
    if len(cmyk) != 4:
        return cmyk
    c, m, y, k = cmyk
    return ((1 - c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k))
