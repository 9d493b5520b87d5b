"""Which CSS declarations hide text from a person while it stays in the document a model reads.

Only what a reviewer's viewer would do matters here, and only the techniques used to hide text:
``display:none``, ``visibility:hidden``, ``opacity:0``, a zero or tiny font, text coloured like its
background (white on white, ``transparent``), off-screen positioning, zero-size clipping. Colours
compare as RGB triples after parsing the common notations.
"""

from __future__ import annotations

import re

TINY_FONT_PX = 2.0
"""Text smaller than this cannot be read on screen or paper."""
OFFSCREEN_PX = 500.0

_DECL = re.compile(r"([a-z-]+)\s*:\s*([^;]+)", re.IGNORECASE)
_LENGTH = re.compile(r"^(-?\d*\.?\d+)\s*(px|pt|em|rem|%)?", re.IGNORECASE)
_HEX = re.compile(r"^#([0-9a-f]{3}|[0-9a-f]{6})$", re.IGNORECASE)
_RGB = re.compile(r"^rgba?\(\s*(\d+)[,\s]+(\d+)[,\s]+(\d+)(?:[,\s/]+([\d.]+%?))?\s*\)$", re.IGNORECASE)
_NAMED = {"white": (255, 255, 255), "black": (0, 0, 0), "snow": (255, 250, 250), "ivory": (255, 255, 240)}
_CLIPPED = re.compile(r"rect\(\s*0(?:px)?[\s,]+0(?:px)?[\s,]+0(?:px)?[\s,]+0(?:px)?\s*\)|inset\(\s*(?:50|100)%")
RGB = tuple[int, int, int]
HIDING_PROPERTIES = frozenset(
    {"display", "visibility", "opacity", "font-size", "color", "left", "top", "right", "text-indent"}
    | {"margin-left", "clip", "clip-path", "height"}
)
"""The properties :func:`hiding_technique` reads: an element setting none of them hides nothing."""


def declarations(style: str) -> dict[str, str]:
    """``property: value`` pairs of a style attribute or rule body, lower-cased, ``!important`` dropped."""
    return {k.lower(): v.lower().replace("!important", "").strip() for k, v in _DECL.findall(style)}


def colour(value: str) -> RGB | None:
    """An RGB triple for ``#fff``, ``#ffffff``, ``rgb(…)``, a few names; ``None`` if transparent/unknown."""
    value = value.strip()
    if m := _HEX.match(value):
        digits = m.group(1)
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))
    if (m := _RGB.match(value)) and not _transparent_alpha(m.group(4)):
        return (int(m.group(1)), int(m.group(2)), int(m.group(3)))
    return _NAMED.get(value)


def _transparent_alpha(alpha: str | None) -> bool:
    if alpha is None:
        return False
    return float(alpha.rstrip("%")) == 0.0


def _px(value: str) -> float | None:
    m = _LENGTH.match(value.strip())
    if not m:
        return None
    number, unit = float(m.group(1)), (m.group(2) or "px").lower()
    return number * {"px": 1.0, "pt": 1.333, "em": 16.0, "rem": 16.0, "%": 0.16}[unit]


def hiding_technique(decls: dict[str, str], background: RGB) -> str | None:  # noqa: PLR0911 - one return per technique
    """The name of the technique these declarations use to hide text, or ``None`` if visible."""
    if decls.get("display") == "none":
        return "display_none"
    if decls.get("visibility") in ("hidden", "collapse"):
        return "visibility_hidden"
    if decls.get("opacity", "1").strip() in ("0", "0.0", "0%"):
        return "opacity_zero"
    size = _px(decls.get("font-size", "16px"))
    if size is not None and size < TINY_FONT_PX:
        return "tiny_font"
    if decls.get("color") == "transparent" or colour(decls.get("color", "")) == background:
        return "same_colour_as_background"
    for side in ("left", "top", "text-indent", "margin-left", "right"):
        offset = _px(decls.get(side, "0"))
        if offset is not None and offset <= -OFFSCREEN_PX:
            return "off_screen"
    if _CLIPPED.search(decls.get("clip", "") + decls.get("clip-path", "")):
        return "clipped"
    if _px(decls.get("height", "1")) == 0.0 and decls.get("overflow") == "hidden":
        return "zero_size"
    return None


def background_of(decls: dict[str, str], inherited: RGB) -> RGB:
    """The background colour an element paints (``background`` or ``background-color``), else inherited."""
    for key in ("background-color", "background"):
        if key in decls:
            found = colour(decls[key].split()[0]) if decls[key] else None
            if found is not None:
                return found
    return inherited
