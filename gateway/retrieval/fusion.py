"""Hybrid fusion shared by every backend (OpenSearch falls back to it where a processor is missing).

Semantics follow OpenSearch: RRF as in the ``score-ranker-processor`` (rank constant 60 by default,
ranks from 1) and weighted fusion as in the ``normalization-processor`` with ``min_max``
normalisation and ``arithmetic_mean`` combination.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from gateway.retrieval.base import FusionConfig, Hit


def _min_max(scores: Sequence[float]) -> list[float]:
    lo, hi = min(scores), max(scores)
    if hi == lo:
        # OpenSearch maps a constant list to 1.0 (every hit is the best of its list).
        return [1.0 for _ in scores]
    return [(s - lo) / (hi - lo) for s in scores]


def fuse(lexical: Sequence[Hit], vector: Sequence[Hit], config: FusionConfig) -> list[Hit]:
    """Fuse two ranked lists (best first) into one, best first, keyed by ``chunk_id``.

    Ties are broken by chunk id so every backend returns the same order for the same inputs.
    """
    scores: dict[str, float] = {}
    hits: dict[str, Hit] = {}
    lex_rank: dict[str, int] = {}
    vec_rank: dict[str, int] = {}
    if config.method == "rrf":
        for ranked, ranks in ((lexical, lex_rank), (vector, vec_rank)):
            for rank, hit in enumerate(ranked, start=1):
                scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + 1.0 / (config.rank_constant + rank)
                hits.setdefault(hit.chunk_id, hit)
                ranks[hit.chunk_id] = rank
    else:
        w_lex = config.lexical_weight
        for ranked, weight, ranks in ((lexical, w_lex, lex_rank), (vector, 1.0 - w_lex, vec_rank)):
            if not ranked:
                continue
            for rank, (hit, norm) in enumerate(zip(ranked, _min_max([h.score for h in ranked]), strict=True), 1):
                scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + weight * norm
                hits.setdefault(hit.chunk_id, hit)
                ranks[hit.chunk_id] = rank
    order = sorted(scores, key=lambda cid: (-scores[cid], cid))
    return [
        replace(hits[cid], score=scores[cid], lexical_rank=lex_rank.get(cid), vector_rank=vec_rank.get(cid))
        for cid in order
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
