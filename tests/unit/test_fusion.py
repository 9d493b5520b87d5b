"""Fusion rules shared by every backend: chunk-level and document-level fusion."""

from __future__ import annotations

import pytest

from gateway.retrieval.base import FusionConfig, Hit
from gateway.retrieval.fusion import best_per_document, fuse


def hit(chunk_id: str, score: float) -> Hit:
    document_id = chunk_id.split(".", maxsplit=1)[0]
    return Hit(chunk_id, document_id, "t1", "c", 1, "title", f"text of {chunk_id}", score)


# d1's best BM25 passage is d1.1, its best vector passage d1.2; d2 is first on each side alone.
LEXICAL = [hit("d2.1", 10.0), hit("d1.1", 9.0), hit("d3.1", 1.0)]
VECTOR = [hit("d1.2", 0.80), hit("d2.2", 0.79), hit("d1.1", 0.78), hit("d3.1", 0.10)]


def test_best_per_document_keeps_the_first_hit_of_each_document() -> None:
    hits = best_per_document([*VECTOR])
    assert [h.chunk_id for h in hits] == ["d1.2", "d2.2", "d3.1"]


@pytest.mark.parametrize(
    ("method", "order"),
    [
        ("rrf", ["d1", "d2", "d3"]),  # 1/62 + 1/61 each: tied, then by id
        ("weighted", ["d2", "d1", "d3"]),  # d2 0.5 * 1 + 0.5 * 0.986 > d1 0.5 * 0.889 + 0.5 * 1
    ],
)
def test_document_fusion_adds_up_a_documents_best_passages_from_both_sides(method: str, order: list[str]) -> None:
    config = FusionConfig(method=method, lexical_weight=0.5)  # type: ignore[arg-type]
    fused = fuse(LEXICAL, VECTOR, config, per_document=True)
    assert [h.document_id for h in fused] == order
    assert len({h.document_id for h in fused}) == len(fused), "one entry per document"
    ranks = {h.document_id: (h.lexical_rank, h.vector_rank) for h in fused}
    assert ranks["d1"] == (2, 1) and ranks["d2"] == (1, 2), "document ranks after reducing each side"


def test_chunk_fusion_lets_a_documents_two_best_passages_compete() -> None:
    config = FusionConfig(method="weighted", lexical_weight=0.5)
    by_chunk = fuse(LEXICAL, VECTOR, config)
    by_document = fuse(LEXICAL, VECTOR, config, per_document=True)
    d1_chunk_best = max(h.score for h in by_chunk if h.document_id == "d1")
    d1_document = next(h.score for h in by_document if h.document_id == "d1")
    assert d1_document > d1_chunk_best


@pytest.mark.parametrize("lexical_weight", [0.2, 0.8])
def test_a_fused_document_is_shown_with_its_chunk_both_sides_support_best(lexical_weight: float) -> None:
    """d1.1 is second on BM25 and third on vectors; d1.2 is first on vectors only. Fused per chunk,
    d1.1 wins at either weight, so it is the passage shown (and quoted) for d1."""
    config = FusionConfig(method="weighted", lexical_weight=lexical_weight)
    fused = fuse(LEXICAL, VECTOR, config, per_document=True)
    assert next(h.chunk_id for h in fused if h.document_id == "d1") == "d1.1"


def test_the_document_score_is_not_the_shown_chunks_score() -> None:
    config = FusionConfig(method="weighted", lexical_weight=0.5)
    by_document = {h.document_id: h.score for h in fuse(LEXICAL, VECTOR, config, per_document=True)}
    by_chunk = {h.chunk_id: h.score for h in fuse(LEXICAL, VECTOR, config)}
    assert by_document["d1"] > by_chunk["d1.1"]


def test_fusion_is_deterministic_on_ties() -> None:
    tied = [hit("b.1", 1.0), hit("a.1", 1.0)]
    for per_document in (False, True):
        once = fuse(tied, [], FusionConfig(method="weighted"), per_document=per_document)
        assert [h.document_id for h in once] == ["a", "b"]
