"""The answer-link check (``guards.poisoning.answer_links``) as a streaming ``AnswerFilter``."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.generation.stream import Span
from guards.poisoning.urls import find_urls


class UnsourcedLinkFilter:
    """Links and images whose URL none of ``sources`` contains: an image goes, a link keeps its text.

    A URL still growing at the end of the streamed text is a match that touches the cut, so the
    stream holds it back whatever its length.
    """

    name = "answer_links"
    max_span = 512

    def __init__(self, sources: Sequence[str]) -> None:
        self._corpus = "\n".join(sources)

    def find(self, text: str) -> Sequence[Span]:
        spans: list[Span] = []
        for found in sorted(find_urls(text), key=lambda f: f.start):
            if (spans and found.start < spans[-1].end) or found.url in self._corpus:
                continue
            replacement = found.text if found.kind == "link" else "[link removed]" if found.kind == "bare" else ""
            spans.append(Span(found.start, found.end, replacement, found.kind))
        return spans
