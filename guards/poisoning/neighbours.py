"""What the planted-answer detector needs from the product: the nearest trusted passages.

``guards`` never searches an index itself; the gateway implements :class:`TrustedNeighbours` over
its retrieval backend (the collection's indexed, screened chunks). :class:`MatrixNeighbours` is a
complete in-memory implementation over a matrix of embeddings, used by the tests and the benchmark
and usable by any caller that holds its trusted passages in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from guards.poisoning.base import FloatVector


@dataclass(frozen=True, slots=True)
class Neighbour:
    ref: str
    """Where the trusted passage lives (a chunk or document id), shown to the reviewer."""
    text: str
    similarity: float
    """Cosine similarity to the screened passage."""
    document: str = ""
    """The trusted passage's document key: a document is never checked against its own passages."""


@dataclass(frozen=True, slots=True)
class Density:
    """How close a trusted passage's nearest trusted neighbour usually is, in this collection."""

    mean: float
    std: float


class TrustedNeighbours(Protocol):
    def nearest(self, vector: FloatVector, *, collection: str, k: int, scope: str = "") -> Sequence[Neighbour]:
        """The ``k`` most similar trusted passages of ``collection`` (in ``scope``), best first."""
        ...

    def density(self, collection: str, scope: str = "") -> Density | None:
        """Nearest-neighbour similarity statistics of the collection; ``None`` when too small to tell."""
        ...


class MatrixNeighbours:
    """Trusted passages held as one L2-normalised matrix per collection."""

    MIN_FOR_DENSITY = 20

    def __init__(self) -> None:
        self._texts: dict[str, list[tuple[str, str, str]]] = {}
        self._vectors: dict[str, FloatVector] = {}
        self._density: dict[str, Density | None] = {}

    def add(self, collection: str, items: Sequence[tuple[str, str, FloatVector]], *, document: str = "") -> None:
        """Add ``(ref, text, vector)`` triples of one ``document`` to a collection."""
        self._texts.setdefault(collection, []).extend((ref, text, document) for ref, text, _ in items)
        rows = np.stack([v for _, _, v in items]).astype(np.float32)
        old = self._vectors.get(collection)
        self._vectors[collection] = rows if old is None else np.vstack([old, rows])
        self._density.pop(collection, None)

    def nearest(self, vector: FloatVector, *, collection: str, k: int, scope: str = "") -> list[Neighbour]:
        matrix = self._vectors.get(collection)
        if matrix is None:
            return []
        scores = matrix @ vector.astype(np.float32)
        top = np.argsort(-scores)[:k]
        texts = self._texts[collection]
        return [Neighbour(texts[i][0], texts[i][1], float(scores[i]), texts[i][2]) for i in top]

    def density(self, collection: str, scope: str = "") -> Density | None:
        if collection not in self._density:
            self._density[collection] = self._measure(collection)
        return self._density[collection]

    def _measure(self, collection: str) -> Density | None:
        matrix = self._vectors.get(collection)
        if matrix is None or len(matrix) < self.MIN_FOR_DENSITY:
            return None
        sample = matrix[:500]
        sims = sample @ matrix.T
        for i in range(len(sample)):
            sims[i, i] = -1.0  # leave-one-out: a passage is not its own neighbour
        nearest = sims.max(axis=1)
        return Density(float(nearest.mean()), float(nearest.std()) or 1e-6)
