"""The vector side at scale, in the same run as ``bench.scale``: the engine's int8 scan with exact
re-rank beside the naive alternative, the exact float32 scan the engine ran before (every vector
resident, one BLAS product per 65,536-row block, the same gather-or-scan rule).

Both rank the same permitted positions (the bench's own reference filter, ``visible_mask``) for the
same queries, on one thread. Recall@10 and recall@50 (the candidate list hybrid fusion consumes)
are the int8 results' overlap with the float32 ones; "outside the filter" counts int8 results
the reference filter does not allow (must be 0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from bench.common import Report, latencies, percentiles
from bench.synthetic import Query, SyntheticCorpus
from gateway.retrieval.embedded.retriever import EmbeddedRetriever
from gateway.retrieval.embedded.vectors import BLOCK_ROWS, Positions

Matrix = npt.NDArray[np.float32]
N = 50
"""Candidates per side, as ``bench.scale``'s requests ask (``FusionConfig.candidates``)."""


class Float32Scan:
    """The engine's exact float32 scan before int8 codes (the naive alternative, all in memory)."""

    def __init__(self, vectors: Matrix, gather_fraction: float = 0.3) -> None:
        self.blocks = [vectors[lo : lo + BLOCK_ROWS] for lo in range(0, len(vectors), BLOCK_ROWS)]
        self.count = len(vectors)
        self.gather_fraction = gather_fraction

    def top(self, query: Matrix, positions: Positions, n: int) -> Positions:
        column = query[:, None]
        if positions.size > self.gather_fraction * self.count:
            scores = np.concatenate([(b @ column).ravel() for b in self.blocks])[positions]
        else:
            scores = np.empty(positions.size, dtype=np.float32)
            owner = positions // BLOCK_ROWS
            for b in np.unique(owner):
                at = owner == b
                scores[at] = (self.blocks[int(b)][positions[at] - int(b) * BLOCK_ROWS] @ column).ravel()
        pick = np.argpartition(-scores, n - 1)[:n] if n < positions.size else np.arange(positions.size)
        result: Positions = positions[pick[np.lexsort((positions[pick], -scores[pick]))]]
        return result


def compare(
    retriever: EmbeddedRetriever,
    corpus: SyntheticCorpus,
    queries: Sequence[Query],
    visible: dict[str, Positions],
) -> Report:
    """Vector-side latency and recall of both scans, per user (the engine's index is row = chunk)."""
    report = Report(
        f"Vector side at {corpus.spec.chunks:,} chunks: naive float32 scan vs int8 + exact re-rank "
        f"(top {N}, 1 thread, {len(queries)} queries)",
        ["user", "scan", "p50 ms", "p95 ms", "recall@10", f"recall@{N}", "outside the filter", "vectors resident MB"],
    )
    snapshot = retriever._snapshot.vectors
    exact: Callable[[Positions], Matrix] = lambda rows: retriever._exact(rows, snapshot.dimension)  # noqa: E731
    int8_mb = sum(b.nbytes + s.nbytes for b, s in zip(snapshot.blocks, snapshot.scales, strict=True)) / 2**20
    naive = Float32Scan(corpus.all_vectors())
    float32_mb = sum(b.nbytes for b in naive.blocks) / 2**20
    for user, positions in visible.items():
        qs = [q.vector.astype(np.float32) for q in queries]

        def float32_top(q: Matrix, p: Positions = positions) -> Positions:
            return naive.top(q, p, N)

        def int8_top(q: Matrix, p: Positions = positions) -> Positions:
            # On the engine's vector-search threads, as a search runs it (one torch thread each).
            return retriever._pool.submit(snapshot.top, q, p, N, exact).result()[0]

        with threadpool_limits(1, "blas"):
            truth = [float32_top(q) for q in qs]
            naive_ms = latencies(float32_top, qs)
        got = [int8_top(q) for q in qs]
        int8_ms = latencies(int8_top, qs)
        allowed = set(positions.tolist())
        outside = sum(len(set(g.tolist()) - allowed) for g in got)
        r10 = np.mean([len(set(g[:10].tolist()) & set(t[:10].tolist())) / 10 for g, t in zip(got, truth, strict=True)])
        rn = np.mean([len(set(g.tolist()) & set(t.tolist())) / N for g, t in zip(got, truth, strict=True)])
        report.add(user, "float32, exact (before)", *percentiles(naive_ms), 1.0, 1.0, 0, float32_mb)
        report.add(user, f"int8 + re-rank {snapshot.rerank} (now)", *percentiles(int8_ms), r10, rn, outside, int8_mb)
    return report
