"""In-memory vectors and ACL postings: permission-filtered cosine search with numpy.

Layout (arrays only, no per-chunk Python objects): a *position* is a row's index in memory.
Vectors live as int8 codes with one float32 scale per row (``quantized.py``) in fixed-size blocks
(so growth never copies the whole matrix); the exact float32 vectors stay in the chunk store and
are read only for the candidates a search re-ranks. ``rows`` maps a position to its store row id
(ascending); ``collections`` holds a small integer code per position; postings map
``(kind, tenant, value)`` to the ascending positions carrying that value, for kinds ``t``
(tenant), ``c`` (collection), ``a`` (ACL allow principal), ``d`` (ACL deny).

Snapshots are immutable: the writer only appends beyond a snapshot's ``count`` and copies the
``live`` mask before changing it, so a search holding an old snapshot is never disturbed.

Memory (``bench.scale``, breakdown in docs/benchmarks.md section 7): positions are int32 (an index
holds far fewer than 2**31 rows), store row ids int64; ``VectorBuilder.shrink`` drops the growth
slack after a bulk load and hands the allocator's free pages back (``quantized.release_free_memory``).
A scan of many rows is split into ``shards`` ranges of blocks scanned on helper threads at once, each
on one core, and their top candidates merged: the same candidates as one scan (``_best``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.authz.filter import AclFilter
from gateway.retrieval.embedded.quantized import Codes, approximate, quantize, release_free_memory, single_threaded

Rows = npt.NDArray[np.int64]
"""Store row ids (int64: assigned by the store, never reused)."""
Positions = npt.NDArray[np.int32]
"""Positions in memory (int32: an index holds far fewer than 2**31 rows)."""
AnyPositions = npt.NDArray[np.integer[Any]]
Matrix = npt.NDArray[np.float32]
Key = tuple[str, str, str]
ExactVectors = Callable[[Rows], Matrix]
"""The exact float32 vectors of the given store row ids, in that order (from the chunk store)."""

BLOCK_SHIFT = 16
BLOCK_ROWS = 1 << BLOCK_SHIFT
MAX_ROWS = int(np.iinfo(np.int32).max)
SHARD_ROWS = 4 * BLOCK_ROWS
"""Scans of at least this many rows (262,144) are split into shards; smaller ones run as one."""
SHARDS = min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
"""Shards of a large scan: 2 where this process may use 2 cores or more (measured on 2 cores, bench.scale);
a single core gains nothing from splitting."""
_EMPTY: Positions = np.empty(0, dtype=np.int32)

_helpers_lock = threading.Lock()
_helpers: list[ThreadPoolExecutor] = []


def _helper_pool() -> ThreadPoolExecutor:
    """Threads that scan the other shards of a split scan (the caller scans the first itself).

    Their own pool, not the retriever's search pool: a search waiting on its shards must never
    wait for a thread that is itself running a search. Each runs its scans on one core.
    """
    if not _helpers:
        with _helpers_lock:
            if not _helpers:
                _helpers.append(
                    ThreadPoolExecutor(max_workers=4, thread_name_prefix="vector-shard", initializer=single_threaded)
                )
    return _helpers[0]


def _best(scores: Matrix, positions: Positions, keep: int) -> tuple[Positions, Matrix]:
    """The ``keep`` positions with the highest scores (ties: lower position first), and their
    scores, ascending by position (``positions`` must be ascending).

    Deterministic, so the best of per-shard bests is the best of the whole (``VectorSnapshot``).
    """
    if positions.size <= keep:
        return positions, scores
    cut = scores[np.argpartition(-scores, keep - 1)[keep - 1]]
    above = scores > cut
    tied = np.flatnonzero(scores == cut)[: keep - int(above.sum())]  # the lowest positions first
    above[tied] = True
    return positions[above], scores[above]


def _merge(found: Sequence[tuple[Positions, Matrix]], keep: int) -> tuple[Positions, Matrix]:
    """``_best`` of the union of ``_best`` results over ascending, disjoint ranges of positions."""
    if not found:
        return _EMPTY, np.empty(0, dtype=np.float32)
    if len(found) == 1:
        return found[0]
    return _best(np.concatenate([s for _, s in found]), np.concatenate([p for p, _ in found]), keep)


class _Growable:
    """An append-only array; views handed out stay valid (appends go beyond them)."""

    def __init__(self, dtype: type[np.generic], values: npt.NDArray[np.generic] | None = None) -> None:
        self._buf: npt.NDArray[np.generic] = np.empty(max(16, 0 if values is None else len(values)), dtype=dtype)
        self._n = 0
        if values is not None:
            self.extend(values)

    def extend(self, values: npt.ArrayLike) -> None:
        arr = np.asarray(values, dtype=self._buf.dtype)
        if self._n + len(arr) > len(self._buf):
            grown = np.empty(max(2 * len(self._buf), self._n + len(arr)), dtype=self._buf.dtype)
            grown[: self._n] = self._buf[: self._n]
            self._buf = grown
        self._buf[self._n : self._n + len(arr)] = arr
        self._n += len(arr)

    def view(self) -> npt.NDArray[np.generic]:
        return self._buf[: self._n]

    def shrink(self) -> None:
        """Drop the growth slack (a copy; views handed out keep the old buffer)."""
        if len(self._buf) > self._n:
            self._buf = self._buf[: self._n].copy()


def _union(parts: Sequence[Positions]) -> Positions:
    parts = [p for p in parts if p.size]
    if not parts:
        return _EMPTY
    if len(parts) == 1:
        return parts[0]
    return np.unique(np.concatenate(parts))


def _positions_of(known: Rows, live: npt.NDArray[np.bool_], rows: Sequence[int]) -> Positions:
    wanted = np.asarray(rows, dtype=np.int64)
    pos = np.searchsorted(known, wanted)
    ok = pos < known.size
    ok[ok] &= known[pos[ok]] == wanted[ok]
    ok[ok] &= live[pos[ok]]
    return pos[ok].astype(np.int32)


@dataclass(frozen=True, slots=True)
class VectorSnapshot:
    """A consistent, read-only view of the in-memory index."""

    dimension: int
    count: int
    blocks: tuple[Codes, ...]
    """Int8 codes, ``BLOCK_ROWS`` rows a block (the last one may be shorter or partly unused)."""
    scales: tuple[Matrix, ...]
    """One float32 scale per row of each block: ``codes * scale`` approximates the vector."""
    live: npt.NDArray[np.bool_]
    rows: Rows
    collections: npt.NDArray[np.int32]
    collection_codes: Mapping[tuple[str, str], int]
    postings: Mapping[Key, Positions]
    live_count: int
    gather_fraction: float = 0.3
    """Above this share of visible positions, scan every row then pick (faster than gathering)."""
    rerank: int = 200
    """Approximate candidates re-ranked exactly (at least the number asked for)."""
    shards: int = SHARDS
    """Ranges of blocks a scan of at least ``shard_rows`` rows is split into, scanned at once."""
    shard_rows: int = SHARD_ROWS

    def positions_of(self, rows: Sequence[int]) -> Positions:
        """Positions of live store rows (rows unknown to this snapshot or dead are dropped)."""
        return _positions_of(self.rows, self.live, rows)

    def _post(self, kind: str, tenant: str, value: str) -> Positions:
        return self.postings.get((kind, tenant, value), _EMPTY)

    def _codes(self, tenant: str, names: frozenset[str]) -> Positions:
        codes = [self.collection_codes.get((tenant, n)) for n in names]
        return np.asarray([c for c in codes if c is not None], dtype=np.int32)

    def visible(self, acl: AclFilter, scope: frozenset[str] | None) -> Positions:
        """Ascending live positions that pass ``acl`` (exactly ``AclFilter.matches``) and ``scope``."""
        if acl.deny_all or (scope is not None and not scope):
            return _EMPTY
        tenant = acl.tenant
        if acl.allowed_collections is None:
            base = (
                _union([self._post("c", tenant, c) for c in scope])
                if scope is not None
                else self._post("t", tenant, "")
            )
        else:
            granted = acl.allowed_collections if scope is None else acl.allowed_collections & scope
            parts = [self._post("c", tenant, c) for c in granted]
            base = _union(parts + [self._post("a", tenant, p) for p in acl.principals])
        base = base[self.live[base]]
        if base.size == 0:
            return base
        keep = np.ones(base.size, dtype=np.bool_)
        # Rows reached through a document allow may sit in any collection: re-check collections.
        if acl.denied_collections or (scope is not None and acl.allowed_collections is not None):
            codes = self.collections[base]
            if acl.denied_collections:
                keep &= ~np.isin(codes, self._codes(tenant, acl.denied_collections))
            if scope is not None:
                keep &= np.isin(codes, self._codes(tenant, scope))
        denied = _union([self._post("d", tenant, p) for p in acl.principals])
        if denied.size:
            keep &= ~np.isin(base, denied)
        return base if keep.all() else base[keep]

    def scores(self, query: Matrix, positions: AnyPositions) -> Matrix:
        """Approximate (int8) dot products of ``query`` with the vectors at ``positions`` (ascending).

        Above ``gather_fraction`` every block is scanned whole and the visible positions are
        picked from the result: the products of other rows are computed as part of the block
        product but never enter a selection (gathering 1M rows costs more than scanning them).
        """
        return self._scores(query, positions, 0, len(self.blocks), self._whole(positions))

    def _whole(self, positions: AnyPositions) -> bool:
        return bool(positions.size > self.gather_fraction * self.count)

    def _scores(self, query: Matrix, positions: AnyPositions, first: int, last: int, whole: bool) -> Matrix:
        """``scores`` of ``positions``, all of them in blocks ``first .. last - 1``, from those blocks only.

        The same kernel calls on the same rows as a scan of every block: a block's products do
        not depend on how the blocks are shared out.
        """
        if whole:
            sizes = self._block_rows()
            every = np.concatenate(
                [approximate(self.blocks[b][: sizes[b]], self.scales[b][: sizes[b]], query) for b in range(first, last)]
            )
            result: Matrix = every[positions - first * BLOCK_ROWS]
            return result
        blocks = positions >> BLOCK_SHIFT
        offsets = positions & (BLOCK_ROWS - 1)
        out = np.empty(positions.size, dtype=np.float32)
        bounds = np.searchsorted(blocks, np.arange(first, last + 1))
        for i, b in enumerate(range(first, last)):
            lo, hi = int(bounds[i]), int(bounds[i + 1])
            if hi > lo:
                at = offsets[lo:hi]
                out[lo:hi] = approximate(self.blocks[b][at], self.scales[b][at], query)
        return out

    def _block_rows(self) -> list[int]:
        return [min(BLOCK_ROWS, self.count - i * BLOCK_ROWS) for i in range(len(self.blocks))]

    def _shards(self, positions: Positions, whole: bool) -> list[tuple[int, int, Positions]]:
        """``(first block, last block + 1, positions there)`` per shard: one, or ``shards`` ranges of
        about equal work (rows scanned, or positions gathered) when there are ``shard_rows`` of it."""
        nblocks = len(self.blocks)
        work = self.count if whole else positions.size
        if self.shards < 2 or nblocks < 2 or work < self.shard_rows:
            return [(0, nblocks, positions)]
        if whole:
            cuts = [round(i * nblocks / self.shards) for i in range(1, self.shards)]
        else:
            cuts = [int(positions[i * positions.size // self.shards]) >> BLOCK_SHIFT for i in range(1, self.shards)]
        edges = sorted({0, nblocks, *(c for c in cuts if 0 < c < nblocks)})
        at = np.searchsorted(positions, [e * BLOCK_ROWS for e in edges])
        return [(lo, hi, positions[a:b]) for lo, hi, a, b in zip(edges, edges[1:], at, at[1:], strict=False)]

    def candidates(self, query: Matrix, positions: AnyPositions, keep: int) -> Positions:
        """The ``keep`` best ``positions`` (ascending) by approximate score, ties: lower position first.

        A scan of ``shard_rows`` or more rows runs as ``shards`` ranges of blocks at once: the
        calling thread scans the first, helper threads (one core each) the others, and the best
        of each range's best ``keep`` is the best of all (the same positions as one scan).
        """
        ordered: Positions = positions.astype(np.int32, copy=False)
        whole = self._whole(ordered)
        shards = self._shards(ordered, whole)

        def best(first: int, last: int, part: Positions) -> tuple[Positions, Matrix]:
            # Block by block: temporaries of one block (256 KB of scores), not of the whole scan.
            bounds = np.searchsorted(part, np.arange(first, last + 1) * BLOCK_ROWS)
            found = [
                _best(self._scores(query, part[lo:hi], b, b + 1, whole), part[lo:hi], keep)
                for b, lo, hi in zip(range(first, last), bounds[:-1], bounds[1:], strict=True)
                if hi > lo
            ]
            return _merge(found, keep)

        if len(shards) == 1:
            return best(*shards[0])[0]
        pool = _helper_pool()
        futures: list[Future[tuple[Positions, Matrix]]] = [pool.submit(best, *s) for s in shards[1:]]
        return _merge([best(*shards[0]), *(f.result() for f in futures)], keep)[0]

    def top(self, query: Matrix, positions: AnyPositions, n: int, exact: ExactVectors) -> tuple[Positions, Matrix]:
        """The ``n`` best positions by exact cosine, best first (ties: lower position first).

        The int8 scan picks the best ``max(n, rerank)`` of ``positions`` (``candidates``); their
        exact float32 vectors (``exact``, read by store row id) decide the order and the scores
        returned. Only rows at ``positions`` are ever candidates. With no more positions than
        that, every one of them is scored exactly and the int8 scan is skipped.
        """
        if positions.size == 0 or n <= 0:
            return _EMPTY, np.empty(0, dtype=np.float32)
        keep = max(n, self.rerank)
        chosen: Positions = positions.astype(np.int32, copy=False)
        if chosen.size > keep:
            chosen = self.candidates(query, chosen, keep)
        scores: Matrix = (exact(self.rows[chosen]) @ query[:, None]).ravel()
        if n < chosen.size:
            pick = np.argpartition(-scores, n - 1)[:n]
            chosen, scores = chosen[pick], scores[pick]
        order = np.lexsort((chosen, -scores))
        return chosen[order], scores[order]


class VectorBuilder:
    """The writer's mutable side of the in-memory index; ``snapshot()`` publishes a view of it."""

    def __init__(
        self,
        dimension: int,
        gather_fraction: float = 0.3,
        rerank: int = 200,
        *,
        shards: int = SHARDS,
        shard_rows: int = SHARD_ROWS,
    ) -> None:
        self.dimension = dimension
        self.gather_fraction = gather_fraction
        self.rerank = rerank
        self.shards = shards
        self.shard_rows = shard_rows
        self._blocks: list[Codes] = []
        self._scales: list[Matrix] = []
        self._count = 0
        self._rows = _Growable(np.int64)
        self._collections = _Growable(np.int32)
        self._live: npt.NDArray[np.bool_] = np.zeros(0, dtype=np.bool_)
        self._live_shared = False
        self._postings: dict[Key, _Growable] = {}
        self._codes: dict[tuple[str, str], int] = {}
        self._dead = 0

    @property
    def count(self) -> int:
        return self._count

    @property
    def dead(self) -> int:
        return self._dead

    def _append_codes(self, codes: Codes, scales: Matrix) -> None:
        done = 0
        while done < len(codes):
            block_no, offset = divmod(self._count + done, BLOCK_ROWS)
            if block_no == len(self._blocks):
                self._blocks.append(np.zeros((min(BLOCK_ROWS, 1024), self.dimension), dtype=np.int8))
                self._scales.append(np.zeros(min(BLOCK_ROWS, 1024), dtype=np.float32))
            block, scale = self._blocks[block_no], self._scales[block_no]
            take = min(len(codes) - done, BLOCK_ROWS - offset)
            if offset + take > len(block):
                # Grow the last block by copying: snapshots keep the old one, untouched.
                size = min(BLOCK_ROWS, max(2 * len(block), offset + take))
                grown, grown_scale = np.zeros((size, self.dimension), np.int8), np.zeros(size, np.float32)
                grown[:offset], grown_scale[:offset] = block[:offset], scale[:offset]
                self._blocks[block_no], self._scales[block_no] = block, scale = grown, grown_scale
            block[offset : offset + take] = codes[done : done + take]
            scale[offset : offset + take] = scales[done : done + take]
            done += take

    def append(
        self,
        rows: Rows,
        vectors: Matrix,
        *,
        tenants: Sequence[str],
        collections: Sequence[str],
        acl_allow: Sequence[Sequence[str]],
        acl_deny: Sequence[Sequence[str]],
    ) -> None:
        """Append rows (store row ids ascending, above every row already here).

        Only the int8 codes of ``vectors`` are kept; the exact vectors stay in the chunk store.
        """
        if len(rows) == 0:
            return
        if self._count + len(rows) > MAX_ROWS:
            raise ValueError(f"the in-memory index holds at most {MAX_ROWS:,} rows")
        start = self._count
        self._append_codes(*quantize(np.asarray(vectors, dtype=np.float32)))
        self._rows.extend(rows)
        grouped: dict[Key, list[int]] = {}
        codes = np.empty(len(rows), dtype=np.int32)
        for i, (tenant, collection) in enumerate(zip(tenants, collections, strict=True)):
            pos = start + i
            codes[i] = self._codes.setdefault((tenant, collection), len(self._codes))
            grouped.setdefault(("t", tenant, ""), []).append(pos)
            grouped.setdefault(("c", tenant, collection), []).append(pos)
            for principal in acl_allow[i]:
                grouped.setdefault(("a", tenant, principal), []).append(pos)
            for principal in acl_deny[i]:
                grouped.setdefault(("d", tenant, principal), []).append(pos)
        self._collections.extend(codes)
        for key, positions in grouped.items():
            self._postings.setdefault(key, _Growable(np.int32)).extend(positions)
        self._live = np.concatenate([self._live, np.ones(len(rows), dtype=np.bool_)])
        self._live_shared = False
        self._count += len(rows)

    def kill(self, rows: Sequence[int]) -> None:
        """Mark store rows dead (unknown rows are ignored)."""
        positions = _positions_of(self._rows.view().astype(np.int64, copy=False), self._live, rows)
        if positions.size == 0:
            return
        if self._live_shared:
            self._live = self._live.copy()
            self._live_shared = False
        self._live[positions] = False
        self._dead += int(positions.size)

    def shrink(self) -> None:
        """Exact-size arrays (no growth slack) and the allocator's free pages handed back.

        For after a bulk load (opening an index: 10,000-row batches grow every array by copying,
        which leaves free holes in the C heap that count as resident). Snapshots already published
        keep the arrays they hold.
        """
        self._rows.shrink()
        self._collections.shrink()
        for postings in self._postings.values():
            postings.shrink()
        if self._blocks:
            used = self._count - (len(self._blocks) - 1) * BLOCK_ROWS
            if len(self._blocks[-1]) > used:
                self._blocks[-1] = self._blocks[-1][:used].copy()
                self._scales[-1] = self._scales[-1][:used].copy()
        release_free_memory()

    def snapshot(self) -> VectorSnapshot:
        self._live_shared = True
        rows = self._rows.view()
        return VectorSnapshot(
            dimension=self.dimension,
            count=self._count,
            blocks=tuple(self._blocks),
            scales=tuple(self._scales),
            live=self._live,
            rows=rows.astype(np.int64, copy=False),
            collections=self._collections.view().astype(np.int32, copy=False),
            collection_codes=dict(self._codes),
            postings={k: g.view().astype(np.int32, copy=False) for k, g in self._postings.items()},
            live_count=self._count - self._dead,
            gather_fraction=self.gather_fraction,
            rerank=self.rerank,
            shards=self.shards,
            shard_rows=self.shard_rows,
        )

    def compacted(self) -> VectorBuilder:
        """A new builder holding only the live positions (this one is left untouched)."""
        snap = self.snapshot()
        keep = np.flatnonzero(snap.live).astype(np.int32)
        new_pos = np.full(snap.count, -1, dtype=np.int32)
        new_pos[keep] = np.arange(keep.size, dtype=np.int32)
        out = VectorBuilder(
            self.dimension, self.gather_fraction, self.rerank, shards=self.shards, shard_rows=self.shard_rows
        )
        for lo in range(0, keep.size, BLOCK_ROWS):
            part = keep[lo : lo + BLOCK_ROWS]
            blocks, offsets = part >> BLOCK_SHIFT, part & (BLOCK_ROWS - 1)
            parts = [(b, offsets[blocks == b]) for b in np.unique(blocks)]
            out._append_codes(
                np.concatenate([snap.blocks[b][at] for b, at in parts]),
                np.concatenate([snap.scales[b][at] for b, at in parts]),
            )
            out._count += int(part.size)
        out._rows = _Growable(np.int64, snap.rows[keep])
        out._collections = _Growable(np.int32, snap.collections[keep])
        out._live = np.ones(keep.size, dtype=np.bool_)
        out._codes = dict(self._codes)
        for key, positions in snap.postings.items():
            alive = new_pos[positions[snap.live[positions]]]
            if alive.size:
                out._postings[key] = _Growable(np.int32, alive)
        return out
