"""Grounded answers only: a model's sentence reaches the caller only when the sources it cites support it.

The prompt asks the model to cite ``[S<n>]`` after each sentence and ``CitationFilter`` already removes
ids that were not retrieved. That still lets through a sentence with no citation at all, or one that
cites a passage it does not come from: measured on the sample QA set (docs/benchmarks.md, issue 11,
session 6), the base SmolLM2 invented a law firm, a parking fee and a salary range with no citation,
and an adapter cited an unrelated passage for "The board decided to acquire Tidewater Labs". Such a
sentence is the model's own knowledge or invention presented as the company's, which the gateway
promises never to serve.

``GroundingGate`` sits after the citation filter on the streamed text. It cuts the stream into
sentence units (a sentence and the citation markers that follow it), and lets a unit through only if
it cites at least one retrieved source and at least half of its content terms (the extractive
generator's ``terms``: stemmed, stop words out) occur in the sources it cites; the eval's
*faithfulness* column uses the same test. Units are held only until the next sentence starts, so
an answer still streams sentence by sentence. Dropped units are counted (``Completion.ungrounded_sentences``,
the audit row); an answer with nothing left is the no-answer sentence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from gateway.generation.extractive import terms
from gateway.retrieval.base import Hit

_MARKER = re.compile(r"\[(\d{1,3})\]")
_UNIT_END = re.compile(r"[.!?](?:\s*\[\d{1,3}\])*(?=\s+[A-Z0-9\"'(])")
"""The end of a sentence unit: end punctuation and the markers right after it, before the next
sentence's first character (capital, digit, quote or bracket: not ``e.g. the``, not ``$1.5``)."""
MIN_SUPPORT = 0.5
"""Share of a sentence's content terms that its cited sources must contain (the eval's faithfulness test)."""


def covers(support: set[str], text: str) -> bool:
    """At least :data:`MIN_SUPPORT` of ``text``'s content terms are in ``support`` (False when it has none).
    The eval's faithfulness column (``generation.eval.faithfulness``) scores sentences with it too."""
    own = set(terms(text))
    return bool(own) and len(own & support) >= MIN_SUPPORT * len(own)


def grounded(unit: str, sources: Mapping[str, Hit], source_terms: dict[str, set[str]] | None = None) -> bool:
    """Does ``unit`` (a sentence with its ``[n]`` markers) cite a retrieved source that supports it?

    ``source_terms`` caches each source's content terms across the units of one answer."""
    cited = [sid for sid in (f"S{n}" for n in dict.fromkeys(_MARKER.findall(unit))) if sid in sources]
    if not cited:
        return False
    cache = {} if source_terms is None else source_terms
    support: set[str] = set()
    for sid in cited:
        if sid not in cache:
            cache[sid] = set(terms(f"{sources[sid].title} {sources[sid].text}"))
        support |= cache[sid]
    return covers(support, _MARKER.sub(" ", unit))  # markers and stop words only: nothing to serve


class GroundingGate:
    """Feed it the filtered answer piece by piece; it returns what may be shown, unit by unit."""

    def __init__(self, sources: Mapping[str, Hit]) -> None:
        self._sources = sources
        self._terms: dict[str, set[str]] = {}
        self._buffer = ""
        self._shown = False
        self.dropped = 0
        """Sentence units withheld because their citations do not support them."""

    def feed(self, text: str) -> str:
        self._buffer += text
        out: list[str] = []
        while match := _UNIT_END.search(self._buffer):
            unit, self._buffer = self._buffer[: match.end()], self._buffer[match.end() :]
            out.append(self._check(unit))
        return "".join(out)

    def flush(self) -> str:
        unit, self._buffer = self._buffer, ""
        return self._check(unit) if unit.strip() else ""

    def _check(self, unit: str) -> str:
        unit = unit.strip()
        if not unit:
            return ""
        if not grounded(unit, self._sources, self._terms):
            self.dropped += 1
            return ""
        prefix = " " if self._shown else ""
        self._shown = True
        return prefix + unit
