"""The int8 scan split into shards, int32 positions and the exact-size arrays after a bulk load:
none of them may change a result. Sharded candidates are the very positions one scan picks (ties
included), for a full scan and for a gather; the ACL pre-filter stays exact."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.retrieval.embedded.quantized import release_free_memory
from gateway.retrieval.embedded.vectors import BLOCK_ROWS, VectorBuilder, VectorSnapshot, _best
from tests.unit.test_vector_rerank import exact_from, unit_rows

D = 16  # the smallest dimension the int8 kernel takes
N = 2 * BLOCK_ROWS + 5_000  # three blocks, the last one partly used


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    x = unit_rows(N, D, seed=5)
    x[1000:1400] = x[999]  # identical rows: equal scores straddle the cut
    x[BLOCK_ROWS + 10 : BLOCK_ROWS + 300] = x[999]
    return x


def build(x: np.ndarray, **kw: int) -> VectorBuilder:
    built = VectorBuilder(D, 0.3, 50, **kw)
    groups = [("g1",) if i % 3 else ("g2",) for i in range(len(x))]
    for lo in range(0, len(x), 10_000):  # batches, as an index opens
        hi = min(len(x), lo + 10_000)
        built.append(
            np.arange(lo, hi, dtype=np.int64),
            x[lo:hi],
            tenants=["t"] * (hi - lo),
            collections=["c"] * (hi - lo),
            acl_allow=groups[lo:hi],
            acl_deny=[()] * (hi - lo),
        )
    return built


@pytest.fixture(scope="module")
def snap(rows: np.ndarray) -> VectorSnapshot:
    return build(rows, shard_rows=1_000).snapshot()


def test_best_breaks_ties_by_lower_position() -> None:
    scores = np.array([0.5, 0.9, 0.5, 0.5, 0.1, 0.9], dtype=np.float32)
    positions = np.array([3, 4, 7, 9, 11, 20], dtype=np.int32)
    got, s = _best(scores, positions, 4)
    assert got.tolist() == [3, 4, 7, 20]
    assert s.tolist() == pytest.approx([0.5, 0.9, 0.5, 0.9])


@pytest.mark.parametrize("gather_fraction", [0.0, 1.0])
@pytest.mark.parametrize("shards", [2, 3, 4])
@pytest.mark.parametrize("subset", ["everyone", "every third", "first block"])
def test_sharded_candidates_are_those_of_one_scan(
    rows: np.ndarray, snap: VectorSnapshot, gather_fraction: float, shards: int, subset: str
) -> None:
    everyone = np.arange(N, dtype=np.int32)
    positions = {
        "everyone": everyone,
        "every third": everyone[::3],
        "first block": everyone[: BLOCK_ROWS // 2],  # every shard but one empty
    }[subset]
    one = replace(snap, gather_fraction=gather_fraction, shards=1)
    split = replace(snap, gather_fraction=gather_fraction, shards=shards)
    assert len(split._shards(positions, split._whole(positions))) > 1 or subset == "first block"
    for q in (rows[999], rows[5], rows[N - 1]):
        want = one.candidates(q, positions, 300)
        got = split.candidates(q, positions, 300)
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, want)
        a, sa = one.top(q, positions, 10, exact_from(rows))
        b, sb = split.top(q, positions, 10, exact_from(rows))
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(sa, sb)


def test_the_shards_cover_each_block_once(snap: VectorSnapshot) -> None:
    everyone = np.arange(N, dtype=np.int32)
    for shards in (2, 3, 5):
        parts = replace(snap, shards=shards)._shards(everyone, True)
        assert next(p[0] for p in parts) == 0 and parts[-1][1] == len(snap.blocks)
        assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))
        np.testing.assert_array_equal(np.concatenate([p[2] for p in parts]), everyone)


def test_small_scans_stay_one_shard(rows: np.ndarray) -> None:
    small = build(rows[:50_000]).snapshot()  # default threshold: 262,144 rows
    everyone = np.arange(50_000, dtype=np.int32)
    assert len(small._shards(everyone, True)) == 1


def test_concurrent_sharded_searches_agree_and_never_wait_on_each_other(rows: np.ndarray, snap: VectorSnapshot) -> None:
    """More searches at once than helper threads: each caller scans its own first shard."""
    everyone = np.arange(N, dtype=np.int32)
    queries = [rows[i] for i in range(0, 12 * 997, 997)]
    one = replace(snap, shards=1)
    want = [one.candidates(q, everyone, 100) for q in queries]
    with ThreadPoolExecutor(max_workers=12) as pool:
        got = list(pool.map(lambda q: snap.candidates(q, everyone, 100), queries, timeout=120))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_positions_and_postings_are_int32_and_int64_input_gives_the_same_results(
    rows: np.ndarray, snap: VectorSnapshot
) -> None:
    from gateway.authz.filter import AclFilter

    visible = snap.visible(AclFilter("t", frozenset({"g2"}), frozenset()), None)
    assert visible.dtype == np.int32
    assert all(p.dtype == np.int32 for p in snap.postings.values())
    assert snap.rows.dtype == np.int64
    np.testing.assert_array_equal(visible, np.arange(0, N, 3))
    a, sa = snap.top(rows[7], visible, 10, exact_from(rows))
    b, sb = snap.top(rows[7], visible.astype(np.int64), 10, exact_from(rows))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(sa, sb)


def test_shrink_drops_growth_slack_and_changes_no_result(rows: np.ndarray) -> None:
    built = build(rows[:100_000])
    before = built.snapshot()
    assert built._rows._buf.nbytes > built._rows.view().nbytes  # grown by doubling: slack
    built.shrink()
    after = built.snapshot()
    assert built._rows._buf.nbytes == 100_000 * 8
    assert built._collections._buf.nbytes == 100_000 * 4
    assert all(g._buf.nbytes == g.view().nbytes for g in built._postings.values())
    assert len(built._blocks[-1]) == 100_000 - BLOCK_ROWS
    everyone = np.arange(100_000, dtype=np.int32)
    for q in (rows[3], rows[99_999]):
        np.testing.assert_array_equal(
            before.top(q, everyone, 10, exact_from(rows))[0], after.top(q, everyone, 10, exact_from(rows))[0]
        )
    # Appends after a shrink grow again; the snapshots already published do not change.
    more = rows[100_000:100_010]
    built.append(
        np.arange(100_000, 100_010, dtype=np.int64),
        more,
        tenants=["t"] * 10,
        collections=["c"] * 10,
        acl_allow=[("g1",)] * 10,
        acl_deny=[()] * 10,
    )
    assert built.snapshot().count == 100_010 and after.count == 100_000
    got, _ = built.snapshot().top(more[4], np.arange(100_010, dtype=np.int32), 1, exact_from(rows))
    assert got.tolist() == [100_004]


@settings(max_examples=40, deadline=None)
@given(
    picks=st.lists(st.integers(0, N - 1), min_size=0, max_size=600, unique=True),
    shards=st.integers(2, 4),
    gather_fraction=st.sampled_from([0.0, 1.0]),
    keep=st.integers(1, 60),
    source=st.integers(0, N - 1),
)
def test_sharded_equals_one_scan_on_any_subset(
    rows: np.ndarray,
    snap: VectorSnapshot,
    picks: list[int],
    shards: int,
    gather_fraction: float,
    keep: int,
    source: int,
) -> None:
    positions = np.array(sorted(picks), dtype=np.int32)
    base = replace(snap, gather_fraction=gather_fraction, shard_rows=1)
    want = replace(base, shards=1).candidates(rows[source], positions, keep)
    got = replace(base, shards=shards).candidates(rows[source], positions, keep)
    np.testing.assert_array_equal(got, want)
    assert set(got.tolist()) <= set(picks)


def test_release_free_memory_runs_on_glibc() -> None:
    import platform

    assert release_free_memory() is (platform.libc_ver()[0] == "glibc")
