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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gateway.authz.filter import AclFilter
from gateway.retrieval.embedded.quantized import Codes, approximate, quantize

Positions = npt.NDArray[np.int64]
Matrix = npt.NDArray[np.float32]
Key = tuple[str, str, str]
ExactVectors = Callable[[Positions], Matrix]
"""The exact float32 vectors of the given store row ids, in that order (from the chunk store)."""

BLOCK_SHIFT = 16
BLOCK_ROWS = 1 << BLOCK_SHIFT
_EMPTY: Positions = np.empty(0, dtype=np.int64)


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


def _union(parts: Sequence[Positions]) -> Positions:
    parts = [p for p in parts if p.size]
    if not parts:
        return _EMPTY
    if len(parts) == 1:
        return parts[0]
    return np.unique(np.concatenate(parts))


def _positions_of(known: Positions, live: npt.NDArray[np.bool_], rows: Sequence[int]) -> Positions:
    wanted = np.asarray(rows, dtype=np.int64)
    pos = np.searchsorted(known, wanted)
    ok = pos < known.size
    ok[ok] &= known[pos[ok]] == wanted[ok]
    ok[ok] &= live[pos[ok]]
    return pos[ok]


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
    rows: Positions
    collections: npt.NDArray[np.int32]
    collection_codes: Mapping[tuple[str, str], int]
    postings: Mapping[Key, Positions]
    live_count: int
    gather_fraction: float = 0.3
    """Above this share of visible positions, scan every row then pick (faster than gathering)."""
    rerank: int = 200
    """Approximate candidates re-ranked exactly (at least the number asked for)."""

    def positions_of(self, rows: Sequence[int]) -> Positions:
        """Positions of live store rows (rows unknown to this snapshot or dead are dropped)."""
        return _positions_of(self.rows, self.live, rows)

    def _post(self, kind: str, tenant: str, value: str) -> Positions:
        return self.postings.get((kind, tenant, value), _EMPTY)

    def _codes(self, tenant: str, names: frozenset[str]) -> Positions:
        codes = [self.collection_codes.get((tenant, n)) for n in names]
        return np.asarray([c for c in codes if c is not None], dtype=np.int64)

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

    def scores(self, query: Matrix, positions: Positions) -> Matrix:
        """Approximate (int8) dot products of ``query`` with the vectors at ``positions`` (ascending).

        Above ``gather_fraction`` every block is scanned whole and the visible positions are
        picked from the result: the products of other rows are computed as part of the block
        product but never enter a selection (gathering 1M rows costs more than scanning them).
        """
        if positions.size > self.gather_fraction * self.count:
            every = np.concatenate(
                [
                    approximate(b[:n], s[:n], query)
                    for b, s, n in zip(self.blocks, self.scales, self._block_rows(), strict=True)
                ]
            )
            result: Matrix = every[positions]
            return result
        blocks = positions >> BLOCK_SHIFT
        offsets = positions & (BLOCK_ROWS - 1)
        out = np.empty(positions.size, dtype=np.float32)
        bounds = np.searchsorted(blocks, np.arange(len(self.blocks) + 1))
        for b in range(len(self.blocks)):
            lo, hi = int(bounds[b]), int(bounds[b + 1])
            if hi > lo:
                at = offsets[lo:hi]
                out[lo:hi] = approximate(self.blocks[b][at], self.scales[b][at], query)
        return out

    def _block_rows(self) -> list[int]:
        return [min(BLOCK_ROWS, self.count - i * BLOCK_ROWS) for i in range(len(self.blocks))]

    def top(self, query: Matrix, positions: Positions, n: int, exact: ExactVectors) -> tuple[Positions, Matrix]:
        """The ``n`` best positions by exact cosine, best first (ties: lower position first).

        The int8 scan picks the best ``max(n, rerank)`` of ``positions``; their exact float32
        vectors (``exact``, read by store row id) decide the order and the scores returned. Only
        rows at ``positions`` are ever candidates. With no more positions than that, every one of
        them is scored exactly and the int8 scan is skipped.
        """
        if positions.size == 0 or n <= 0:
            return _EMPTY, np.empty(0, dtype=np.float32)
        keep = max(n, self.rerank)
        if positions.size > keep:
            approx = self.scores(query, positions)
            positions = np.sort(positions[np.argpartition(-approx, keep - 1)[:keep]])
        scores: Matrix = (exact(self.rows[positions]) @ query[:, None]).ravel()
        if n < positions.size:
            pick = np.argpartition(-scores, n - 1)[:n]
            positions, scores = positions[pick], scores[pick]
        order = np.lexsort((positions, -scores))
        return positions[order], scores[order]


class VectorBuilder:
    """The writer's mutable side of the in-memory index; ``snapshot()`` publishes a view of it."""

    def __init__(self, dimension: int, gather_fraction: float = 0.3, rerank: int = 200) -> None:
        self.dimension = dimension
        self.gather_fraction = gather_fraction
        self.rerank = rerank
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
        rows: Positions,
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
            self._postings.setdefault(key, _Growable(np.int64)).extend(positions)
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
            postings={k: g.view().astype(np.int64, copy=False) for k, g in self._postings.items()},
            live_count=self._count - self._dead,
            gather_fraction=self.gather_fraction,
            rerank=self.rerank,
        )

    def compacted(self) -> VectorBuilder:
        """A new builder holding only the live positions (this one is left untouched)."""
        snap = self.snapshot()
        keep = np.flatnonzero(snap.live).astype(np.int64)
        new_pos = np.full(snap.count, -1, dtype=np.int64)
        new_pos[keep] = np.arange(keep.size)
        out = VectorBuilder(self.dimension, self.gather_fraction, self.rerank)
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
                out._postings[key] = _Growable(np.int64, alive)
        return out
