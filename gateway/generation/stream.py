"""Answer filters that work across streamed chunk boundaries.

An entity can be split over two deltas (``"jane.doe@exa"`` + ``"mple.com"``): filtering each delta
alone would let both halves through. ``HoldbackScrubber`` keeps the last ``max_span`` characters of
the text seen so far unsent; it only releases text before a cut that no match crosses, so any
entity up to ``max_span`` characters long is whole when the filter sees it.

The ``AnswerFilter`` protocol is the hook: the PII guard (or anything else that rewrites answer
text) plugs in by reporting spans and their replacements; it needs nothing from ``gateway``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol


@dataclass(frozen=True, slots=True)
class Span:
    """``text[start:end]`` is to be replaced by ``replacement``; ``label`` says what was found."""

    start: int
    end: int
    replacement: str
    label: str


class AnswerFilter(Protocol):
    """Finds what must not leave in an answer, and what to put in its place."""

    @property
    def name(self) -> str: ...

    @property
    def max_span(self) -> int:
        """The longest match, in characters: the stream holds back this much text."""
        ...

    def find(self, text: str) -> Sequence[Span]:
        """Non-overlapping spans in ``text``, in order."""
        ...


def apply_spans(text: str, spans: Iterable[Span]) -> str:
    """``text`` with each span replaced."""
    out: list[str] = []
    pos = 0
    for span in spans:
        out.append(text[pos : span.start])
        out.append(span.replacement)
        pos = span.end
    out.append(text[pos:])
    return "".join(out)


class RegexAnswerFilter:
    """A filter made of labelled regular expressions; subclasses set ``patterns`` (and ``max_span``)."""

    patterns: ClassVar[Sequence[tuple[str, re.Pattern[str]]]] = ()
    max_span: int = 64

    @property
    def name(self) -> str:
        return type(self).__name__

    def replacement(self, label: str, match: re.Match[str]) -> str:
        """What replaces a match; by default ``<LABEL>``."""
        del match
        return f"<{label}>"

    def find(self, text: str) -> Sequence[Span]:
        return disjoint(
            Span(m.start(), m.end(), self.replacement(label, m), label)
            for label, rx in self.patterns
            for m in rx.finditer(text)
        )


def disjoint(spans: Iterable[Span]) -> list[Span]:
    """``spans`` in order, without overlaps: the earliest (then longest) of overlapping spans wins."""
    kept: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if not kept or span.start >= kept[-1].end:
            kept.append(span)
    return kept


class HoldbackScrubber:
    """Applies filters to a stream of text pieces; ``counts`` says how many spans each filter replaced."""

    def __init__(self, filters: Sequence[AnswerFilter]) -> None:
        self._filters = list(filters)
        self._holdback = max((f.max_span for f in self._filters), default=0)
        self._pending = ""
        self.counts: dict[str, int] = {f.name: 0 for f in self._filters}
        self.labels: dict[str, int] = {}
        self.by_filter: dict[str, dict[str, int]] = {f.name: {} for f in self._filters}
        """Replacements per filter and label (the PII guard's counts per entity type)."""

    def feed(self, piece: str) -> str:
        """Take the next piece; return the text that is now safe to send (maybe empty)."""
        self._pending += piece
        if not self._filters:
            out, self._pending = self._pending, ""
            return out
        return self._release(final=False)

    def flush(self) -> str:
        """The rest, filtered: call once when the stream ends."""
        return self._release(final=True)

    def _release(self, *, final: bool) -> str:
        text = self._pending
        cut = len(text) if final else max(0, len(text) - self._holdback)
        per_filter = [(f, list(f.find(text))) for f in self._filters]
        for _, spans in per_filter:  # never cut through a match: it may still grow
            for span in spans:
                if span.start < cut < span.end:
                    cut = span.start
        head, self._pending = text[:cut], text[cut:]
        for f, _ in per_filter:
            spans = [s for s in f.find(head)]
            self.counts[f.name] += len(spans)
            for s in spans:
                self.labels[s.label] = self.labels.get(s.label, 0) + 1
                mine = self.by_filter[f.name]
                mine[s.label] = mine.get(s.label, 0) + 1
            head = apply_spans(head, spans)
        return head


def scrub_text(text: str, filters: Sequence[AnswerFilter]) -> tuple[str, dict[str, int]]:
    """A whole (non-streamed) answer through the same filters; returns the text and the counts."""
    scrubber = HoldbackScrubber(filters)
    out = scrubber.feed(text) + scrubber.flush()
    return out, scrubber.counts
