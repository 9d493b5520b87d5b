"""Hybrid fusion shared by every backend (OpenSearch falls back to it where a processor is missing).

Semantics follow OpenSearch: RRF as in the ``score-ranker-processor`` (rank constant 60 by default,
ranks from 1) and weighted fusion as in the ``normalization-processor`` with ``min_max``
normalisation and ``arithmetic_mean`` combination.

**Document-level fusion** (``per_document=True``, what a search with ``one_per_document`` uses):
each side is first reduced to its best chunk per document, then the two lists are fused by
document id. Fusing chunk ids instead lets a document whose best BM25 passage and best vector
passage differ get no credit from the combination -- its two halves compete instead of adding up.
On the dev splits (docs/benchmarks.md) document-level fusion was equal or better on every corpus,
by up to 0.005 MRR@10 (FAQ); the corpora's documents are short (1-3 chunks), longer ones gain more.
The hit a fused document is shown with is its chunk with the best *chunk-level* fused score, the
passage both sides support best (the extractive generator quotes it), not simply one side's best.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from gateway.retrieval.base import FusionConfig, Hit


def _min_max(scores: Sequence[float]) -> list[float]:
    lo, hi = min(scores), max(scores)
    if hi == lo:
        # OpenSearch maps a constant list to 1.0 (every hit is the best of its list).
        return [1.0 for _ in scores]
    return [(s - lo) / (hi - lo) for s in scores]


def best_per_document(hits: Sequence[Hit]) -> list[Hit]:
    """The first (best) hit of each document, in order."""
    seen: set[str] = set()
    out: list[Hit] = []
    for hit in hits:
        if hit.document_id not in seen:
            seen.add(hit.document_id)
            out.append(hit)
    return out


def _contributions(ranked: Sequence[Hit], weight: float, config: FusionConfig) -> list[float]:
    if config.method == "rrf":
        return [1.0 / (config.rank_constant + rank) for rank in range(1, len(ranked) + 1)]
    return [weight * norm for norm in _min_max([h.score for h in ranked])] if ranked else []


def fuse(
    lexical: Sequence[Hit], vector: Sequence[Hit], config: FusionConfig, *, per_document: bool = False
) -> list[Hit]:
    """Fuse two ranked lists (best first) into one, best first.

    Keyed by ``chunk_id``, or by ``document_id`` after reducing each side to its best chunk per
    document when ``per_document``. Ties are broken by key so every backend returns the same order.
    """
    by_chunk = _fuse(lexical, vector, config, key=lambda h: h.chunk_id)
    if not per_document:
        return by_chunk
    shown: dict[str, Hit] = {}
    for hit in by_chunk:  # best chunk-level fused score first
        shown.setdefault(hit.document_id, hit)
    by_document = _fuse(best_per_document(lexical), best_per_document(vector), config, key=lambda h: h.document_id)
    return [replace(shown[h.document_id], score=h.score, lexical_rank=h.lexical_rank, vector_rank=h.vector_rank)
            for h in by_document]  # fmt: skip


def _fuse(
    lexical: Sequence[Hit], vector: Sequence[Hit], config: FusionConfig, *, key: Callable[[Hit], str]
) -> list[Hit]:
    scores: dict[str, float] = {}
    first: dict[str, Hit] = {}
    ranks: tuple[dict[str, int], dict[str, int]] = ({}, {})
    sides = ((lexical, config.lexical_weight, ranks[0]), (vector, 1.0 - config.lexical_weight, ranks[1]))
    for ranked, weight, side_ranks in sides:
        for rank, (hit, part) in enumerate(zip(ranked, _contributions(ranked, weight, config), strict=True), 1):
            k = key(hit)
            scores[k] = scores.get(k, 0.0) + part
            side_ranks[k] = rank
            first.setdefault(k, hit)
    order = sorted(scores, key=lambda k: (-scores[k], k))
    return [
        replace(first[k], score=scores[k], lexical_rank=ranks[0].get(k), vector_rank=ranks[1].get(k)) for k in order
    ]


def top_k(hits: Sequence[Hit], k: int, *, one_per_document: bool) -> list[Hit]:
    """The first ``k`` hits, keeping only the best chunk of each document when asked."""
    out: list[Hit] = []
    seen: set[str] = set()
    for hit in hits:
        if one_per_document:
            if hit.document_id in seen:
                continue
            seen.add(hit.document_id)
        out.append(hit)
        if len(out) == k:
            break
    return out
