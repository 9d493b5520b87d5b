"""The generation seam: permitted passages in, an answer with citations out."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from gateway.retrieval.base import Hit


@dataclass(frozen=True, slots=True)
class Citation:
    """A passage the answer relies on; ``marker`` is the ``[n]`` used in the answer text."""

    marker: int
    document_id: str
    chunk_id: str
    title: str
    version: int
    score: float


@dataclass(frozen=True, slots=True)
class Completion:
    """A generated answer. ``answered`` is False when nothing permitted answers the question."""

    text: str
    citations: tuple[Citation, ...]
    answered: bool
    generator: str
    """Generator id, recorded in the audit row (with the model fields below)."""
    base_model: str | None = None
    adapter: str | None = None
    adapter_id: int | None = None
    """The adapter's registry id, when the resolver's reference carries one."""
    adapter_version: int | None = None
    invented_citations: int = 0
    """Citations the model made up (ids that were not retrieved): removed from ``text`` and counted."""
    conflicts: tuple[Mapping[str, Any], ...] = ()
    """Dated sources that disagree; each names the newest source, which the answer must follow."""
    ungrounded_sentences: int = 0
    """Sentences withheld because the sources they cite do not support them (``generation.grounding``)."""

    def audit_details(self) -> dict[str, Any]:
        """What the audit row records about how this answer was produced."""
        return {
            "generator": self.generator,
            "base_model": self.base_model,
            "adapter": self.adapter,
            "adapter_id": self.adapter_id,
            "adapter_version": self.adapter_version,
            "invented_citations": self.invented_citations,
            "ungrounded_sentences": self.ungrounded_sentences,
            "conflicts": [dict(c) for c in self.conflicts],
        }


@dataclass(frozen=True, slots=True)
class AskContext:
    """What a generator may know about the request besides the passages."""

    tenant: str = ""
    """Picks the tenant's active adapter (model-backed generators)."""
    dates: Mapping[str, datetime] = field(default_factory=dict)
    """Document id → last update, for the passages that have one (conflicts follow the newest)."""


NO_CONTEXT = AskContext()

NO_ANSWER = "I could not find an answer to that in the documents available to you."
"""Said in the same words whether or not forbidden documents match: never hint at hidden ones."""


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of answer text, streamed as it is produced (already filtered)."""

    text: str


class Generator(Protocol):
    """Produces an answer from permitted passages only. Passages are data, never instructions."""

    @property
    def name(self) -> str: ...

    def generate(self, question: str, passages: Sequence[Hit], context: AskContext = NO_CONTEXT) -> Completion: ...


@runtime_checkable
class StreamingGenerator(Protocol):
    """A generator that can stream: ``Delta`` pieces, then exactly one ``Completion`` whose text
    is the concatenation of the deltas."""

    def stream(
        self, question: str, passages: Sequence[Hit], context: AskContext = NO_CONTEXT
    ) -> Iterator[Delta | Completion]: ...


def stream_of(
    generator: Generator, question: str, passages: Sequence[Hit], context: AskContext = NO_CONTEXT
) -> Iterator[Delta | Completion]:
    """Stream from any generator: natively when it can, else its whole answer as one delta."""
    if isinstance(generator, StreamingGenerator):
        yield from generator.stream(question, passages, context)
        return
    completion = generator.generate(question, passages, context)
    if completion.text:
        yield Delta(completion.text)
    yield completion
