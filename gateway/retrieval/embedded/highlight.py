"""Highlights: the sentences of a hit that contain an (analysed) query term."""

from __future__ import annotations

import re

import tantivy

MAX_HIGHLIGHTS = 2
MAX_CHARS = 240
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")


def highlights(text: str, terms: frozenset[str], analyzer: tantivy.TextAnalyzer) -> tuple[str, ...]:
    """Up to two sentences of ``text`` sharing a term with the query, each at most 240 characters."""
    if not terms:
        return ()
    out: list[str] = []
    for match in _SENTENCE.finditer(text):
        sentence = match.group(0).strip()
        if sentence and not terms.isdisjoint(analyzer.analyze(sentence)):
            out.append(sentence if len(sentence) <= MAX_CHARS else sentence[: MAX_CHARS - 1] + "…")
            if len(out) == MAX_HIGHLIGHTS:
                break
    return tuple(out)
