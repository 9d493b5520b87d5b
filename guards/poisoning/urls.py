"""URLs in documents and answers: markdown images and links, HTML ``img``/``a``, bare URLs.

Shared by the exfiltration detector (what a document plants) and the answer link check (what an
answer shows). An image is the dangerous kind: a markdown renderer fetches it without a click, so
whatever its URL carries leaves with the request.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

Kind = Literal["image", "link", "bare"]

_MD_IMAGE = re.compile(r"!\[([^\]\n]{0,300})\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'][^\"'\n]*[\"'])?\s*\)")
# No look-behind for the "!" of an image: a pattern that starts with a literal is scanned ~50x faster,
# and images are taken out first anyway (``covered``).
_MD_LINK = re.compile(r"\[([^\]\n]{0,300})\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'][^\"'\n]*[\"'])?\s*\)")
# Reference-style images: ![alt][label], ![alt][] and ![alt] (the label defaults to the alt text).
_MD_REF_IMAGE = re.compile(r"!\[([^\]\n]{0,300})\](?:\[([^\]\n]{0,100})\])?(?!\()")
_MD_REF_DEF = re.compile(r"^[ \t]{0,3}\[([^\]\n]{1,100})\]:[ \t]*<?(\S+?)>?(?:[ \t]+.*)?$", re.MULTILINE)
_HTML_IMG = re.compile(r"<img\b[^>]*?\bsrc\s*=\s*[\"']?([^\"'\s>]+)", re.IGNORECASE)
_HTML_A = re.compile(r"<a\b[^>]*?\bhref\s*=\s*[\"']?([^\"'\s>]+)", re.IGNORECASE)
_BARE = re.compile(r"(?:[Hh][Tt][Tt][Pp][Ss]?|[Ff][Tt][Pp])://[^\s<>\"'`)\]]+")


@dataclass(frozen=True, slots=True)
class FoundUrl:
    kind: Kind
    url: str
    start: int
    end: int
    text: str = ""
    """The link text or alt text."""


def find_urls(text: str) -> Iterator[FoundUrl]:
    """Every URL in ``text``, images first; a URL inside markdown or HTML is not repeated as bare."""
    covered: list[tuple[int, int]] = []
    markdown, markup = "](" in text or "]:" in text, "<" in text
    refs = {m.group(1).lower(): m.group(2) for m in _MD_REF_DEF.finditer(text)} if "]:" in text else {}
    for m in _MD_IMAGE.finditer(text) if markdown else ():
        covered.append(m.span())
        yield FoundUrl("image", m.group(2), m.start(), m.end(), m.group(1))
    for m in _MD_REF_IMAGE.finditer(text) if refs else ():
        if url := refs.get((m.group(2) or m.group(1)).lower()):
            covered.append(m.span())
            yield FoundUrl("image", url, m.start(), m.end(), m.group(1))
    for m in _HTML_IMG.finditer(text) if markup else ():
        covered.append(m.span())
        yield FoundUrl("image", m.group(1), m.start(), m.end())
    for pattern in (_MD_LINK, _HTML_A) if markdown or markup else ():
        for m in pattern.finditer(text):
            if not _inside(m.start(), covered):
                covered.append(m.span())
                yield FoundUrl("link", m.group(m.lastindex or 1), m.start(), m.end(), m.group(1))
    for m in _MD_REF_DEF.finditer(text) if refs else ():
        covered.append(m.span())
    for m in _BARE.finditer(text):
        if not _inside(m.start(), covered):
            url = m.group(0).rstrip(".,;:!?")  # sentence punctuation after a URL is not part of it
            yield FoundUrl("bare", url, m.start(), m.start() + len(url))


def _inside(position: int, spans: list[tuple[int, int]]) -> bool:
    return any(start <= position < end for start, end in spans)
