"""The PII guard as a streaming answer filter (the ``AnswerFilter`` seam of ``generation.stream``)."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.generation.stream import Span, disjoint
from guards.pii.engine import PiiEngine


class PiiAnswerFilter:
    """What the caller may not see becomes ``<TYPE>``, piece by piece as an answer streams.

    The stream holds back ``max_span`` characters, so an address or a name split across two pieces
    is analysed whole before it leaves. The stream's ``HoldbackScrubber.by_filter`` counts
    what was replaced, per type.
    """

    name = "pii"
    max_span = 120
    """Longer than an e-mail, a phone number, a card or an IBAN with separators, and a full name."""

    def __init__(self, engine: PiiEngine, visible: frozenset[str]) -> None:
        self.engine = engine
        self.visible = visible

    def find(self, text: str) -> Sequence[Span]:
        return disjoint(
            Span(r.start, r.end, f"<{r.entity_type}>", r.entity_type)
            for r in self.engine.analyze(text)
            if r.entity_type not in self.visible
        )
