"""The generation seam: permitted passages in, an answer with citations out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

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
    """Generator id (later: model and adapter ids), recorded in the audit row."""


NO_ANSWER = "I could not find an answer to that in the documents available to you."
"""Said in the same words whether or not forbidden documents match: never hint at hidden ones."""


class Generator(Protocol):
    """Produces an answer from permitted passages only. Passages are data, never instructions."""

    @property
    def name(self) -> str: ...

    def generate(self, question: str, passages: Sequence[Hit]) -> Completion: ...
