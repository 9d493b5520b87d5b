"""The int8 scan with exact float32 re-rank inside the embedded engine: recall against an exact
scan, the ACL filter applied before anything is scored, deleted rows never back, restarts.

The re-rank depth is set far below the number of rows here, so the approximate path is the one
under test (with no more permitted rows than the depth every row is scored exactly)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.authz.filter import AclFilter
from gateway.retrieval.base import SearchRequest
from gateway.retrieval.embedded import EmbeddedRetriever
from gateway.retrieval.embedded.quantized import approximate
from gateway.retrieval.embedded.vectors import Positions, VectorBuilder
from tests.contracts.conftest import EMBEDDER, make_chunks, put

PRINCIPALS = ["user:p1", "user:p2", "group:g1", "group:g2"]
COLLECTIONS = ["a", "b", "c"]
TENANTS = ["t1", "t2"]


def unit_rows(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d))
    rows: np.ndarray = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return rows


def builder_of(
    x: np.ndarray, meta: list[tuple[str, str, tuple[str, ...], tuple[str, ...]]], **kw: float
) -> VectorBuilder:
    built = VectorBuilder(x.shape[1], **kw)  # type: ignore[arg-type]
    built.append(
        np.arange(len(x), dtype=np.int64),
        x,
        tenants=[m[0] for m in meta],
        collections=[m[1] for m in meta],
        acl_allow=[m[2] for m in meta],
        acl_deny=[m[3] for m in meta],
    )
    return built


def exact_from(x: np.ndarray, seen: list[int] | None = None) -> Callable[[Positions], np.ndarray]:
    def exact(rows: Positions) -> np.ndarray:
        if seen is not None:
            seen.extend(rows.tolist())
        return x[rows]

    return exact


@pytest.mark.parametrize("gather_fraction", [0.0, 1.0])
def test_recall_at_10_of_int8_with_rerank_against_the_exact_scan(gather_fraction: float) -> None:
    n, d = 20_000, 64
    x = unit_rows(n, d, seed=3)
    snap = builder_of(x, [("t1", "a", (), ())] * n, gather_fraction=gather_fraction, rerank=100).snapshot()
    rng = np.random.default_rng(4)
    everyone = np.arange(n, dtype=np.int64)
    hits = 0
    for source in rng.integers(0, n, 40):
        q = x[source] + rng.standard_normal(d).astype(np.float32) / np.sqrt(d)  # cosine ~0.7 to its source
        q /= np.linalg.norm(q)
        got, scores = snap.top(q, everyone, 10, exact_from(x))
        truth = np.argsort(-(x @ q), kind="stable")[:10]
        hits += len(set(got.tolist()) & set(truth.tolist()))
        assert np.allclose(scores, x[got] @ q, atol=1e-6)  # exact float32 scores, not approximations
    assert hits / 400 >= 0.99


meta_strategy = st.tuples(
    st.sampled_from(TENANTS),
    st.sampled_from(COLLECTIONS),
    st.frozensets(st.sampled_from(PRINCIPALS)).map(lambda s: tuple(sorted(s))),
    st.frozensets(st.sampled_from(PRINCIPALS)).map(lambda s: tuple(sorted(s))),
)
filters = st.builds(
    AclFilter,
    tenant=st.sampled_from(TENANTS),
    principals=st.frozensets(st.sampled_from(PRINCIPALS)),
    allowed_collections=st.none() | st.frozensets(st.sampled_from(COLLECTIONS)),
    denied_collections=st.frozensets(st.sampled_from(COLLECTIONS)),
)


@settings(max_examples=80, deadline=None)
@given(
    meta=st.lists(meta_strategy, min_size=1, max_size=120),
    acl=filters,
    scope=st.none() | st.frozensets(st.sampled_from(COLLECTIONS)),
    gather_fraction=st.sampled_from([0.0, 1.0]),
    seed=st.integers(0, 1000),
)
def test_nothing_outside_the_filter_is_scored_or_returned(
    meta: list[tuple[str, str, tuple[str, ...], tuple[str, ...]]],
    acl: AclFilter,
    scope: frozenset[str] | None,
    gather_fraction: float,
    seed: int,
) -> None:
    x = unit_rows(len(meta), 32, seed)
    snap = builder_of(x, meta, gather_fraction=gather_fraction, rerank=4).snapshot()
    allowed = {i for i, (t, c, a, d) in enumerate(meta) if acl.matches(t, c, a, d) and (scope is None or c in scope)}
    positions = snap.visible(acl, scope)
    assert set(positions.tolist()) == allowed  # the pre-filter is exact
    re_ranked: list[int] = []
    scanned: list[int] = []

    def spy(codes: np.ndarray, scales: np.ndarray, query: np.ndarray) -> np.ndarray:
        scanned.append(len(codes))
        return approximate(codes, scales, query)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("gateway.retrieval.embedded.vectors.approximate", spy)
        got, _ = snap.top(x[seed % len(meta)], positions, 3, exact_from(x, re_ranked))
    assert set(got.tolist()) <= allowed
    assert set(re_ranked) <= allowed  # only permitted rows reach the exact re-rank
    if gather_fraction == 1.0:  # gathering: only permitted rows reach the int8 scan either
        assert sum(scanned) == (len(allowed) if len(allowed) > 4 else 0)


ACL = AclFilter("t1", frozenset({"user:a"}), None)


def open_engine(directory: Path) -> EmbeddedRetriever:
    engine = EmbeddedRetriever(directory, rerank=4, compact_dead_ratio=1.0)
    engine.ensure_index(EMBEDDER.model_id, EMBEDDER.dimension)
    return engine


def vector_query(text: str) -> SearchRequest:
    return SearchRequest(text, EMBEDDER.embed([text])[0], ACL, k=10, one_per_document=False)


def fill(engine: EmbeddedRetriever, docs: int = 30) -> None:
    for i in range(docs):
        put(engine, make_chunks(f"d{i}", [f"policy travel {i} alpha", f"badge {i} rules bravo {i * 7}"]))


def test_deleted_rows_never_return_even_for_their_own_vector(tmp_path: Path) -> None:
    engine = open_engine(tmp_path)
    fill(engine)
    doomed = "badge 3 rules bravo 21"
    assert engine.vector_search(vector_query(doomed))[0].document_id == "d3"
    engine.delete_document("t1", "d3")
    put(engine, make_chunks("d5", ["entirely new text"], version=2))
    for search in (engine.vector_search, engine.search):
        found = {h.document_id for h in search(vector_query(doomed))} | {
            h.chunk_id for h in search(vector_query("policy travel 5 alpha"))
        }
        assert "d3" not in found
        assert not any(c.startswith("t1/d5/v1/") for c in found)
    engine.compact()
    assert "d3" not in {h.document_id for h in engine.vector_search(vector_query(doomed))}
    engine.close()


def test_results_survive_a_restart(tmp_path: Path) -> None:
    engine = open_engine(tmp_path)
    fill(engine)
    engine.delete_document("t1", "d7")
    queries = [vector_query(t) for t in ("policy travel 12 alpha", "badge 7 rules bravo 49", "rules")]
    before = [engine.vector_search(q) for q in queries] + [engine.search(q) for q in queries]
    engine.close()
    again = open_engine(tmp_path)  # the int8 codes are rebuilt from the chunk store
    assert [again.vector_search(q) for q in queries] + [again.search(q) for q in queries] == before
    assert all(h.document_id != "d7" for hits in before for h in hits)
    again.close()


def test_a_re_rank_racing_a_compaction_retries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = open_engine(tmp_path)
    fill(engine, 10)
    real = engine._store.vectors_of
    calls: list[int] = []

    def vanishing_once(rows: list[int], dimension: int) -> object:
        calls.append(1)
        return None if len(calls) == 1 else real(rows, dimension)

    monkeypatch.setattr(engine._store, "vectors_of", vanishing_once)
    assert len(engine.vector_search(vector_query("policy travel"))) == 20
    assert len(calls) == 2
    engine.close()
