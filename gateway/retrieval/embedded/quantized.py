"""Int8 vectors scanned block by block, then an exact float32 re-rank of the best candidates.

An exact float32 scan of 1M x 384 vectors reads 1.5 GB per query: bound by memory bandwidth
(~150 ms here) and 1.5 GB resident. Stored as int8 with one scale per vector, the scan reads a
quarter of that; each block of rows is widened to float32 only while it is multiplied (the block
stays in cache, the whole matrix is never widened). The approximate scores pick ``rerank``
candidates; their exact float32 rows (kept on disk, e.g. a memory map, and read only for those
rows) decide the final order, so a result differs from the exact one only if a true top-``n``
row falls outside the approximate top-``rerank`` (measured: ``bench.quantized_scan``).

The caller's positions (the ACL pre-filter) stay exact: only rows at those positions are scored.

Status: a standalone kernel with its tests and benchmark; the embedded retriever does **not** use
it yet. Measured at 1M x 384 (``bench.quantized_scan``, docs/benchmarks.md): recall@10 1.00 with
a re-rank of 100 and 370 MB resident instead of 1,465 MB; latency about equal to the float32 BLAS
scan with torch's int8 product (51 vs 57 ms in a quiet moment, 180 vs 132 ms in a loaded bench
run), ~5x slower with the numpy widening fallback. So the memory and recall halves hold, the
speed-up does not (yet).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

Positions = npt.NDArray[np.int64]
Matrix = npt.NDArray[np.float32]
Codes = npt.NDArray[np.int8]


def _find_int_mm() -> Callable[..., Any] | None:
    try:
        import torch  # noqa: PLC0415 - optional here; the embedder already depends on it

        fn: Callable[..., Any] = torch._int_mm
        fn(torch.ones((32, 8), dtype=torch.int8), torch.ones((8, 8), dtype=torch.int8))
    except Exception:  # no torch, or no CPU kernel in this build: the numpy path is used
        return None
    return fn


_int_mm = _find_int_mm()

SCAN_BLOCK = 8192
"""Rows widened at once: 8192 x 384 x 4 B = 12 MB, about what stays in this machine's cache."""


def quantize(vectors: Matrix) -> tuple[Codes, Matrix]:
    """Per-vector symmetric int8: ``codes * scale`` approximates each row (error <= scale / 2)."""
    peak = np.abs(vectors).max(axis=1)
    scales = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    codes = np.rint(vectors / scales[:, None]).clip(-127, 127).astype(np.int8)
    return codes, scales


class QuantizedVectors:
    """Int8 codes and per-row scales in memory; exact rows fetched through ``exact`` on demand."""

    def __init__(self, codes: Codes, scales: Matrix, exact: Callable[[Positions], Matrix]) -> None:
        self.codes = codes
        self.scales = scales
        self.exact = exact
        """Exact float32 rows at the given ascending positions (e.g. from a memory map)."""

    def approximate(self, query: Matrix, positions: Positions | None = None) -> Matrix:
        """Approximate dot products with every row (``positions=None``) or the given rows.

        With torch's int8 x int8 -> int32 product (``torch._int_mm``, which runs on CPU in the pinned
        torch) the query is quantised too and no row is ever widened; otherwise each block is
        widened to float32 just before its product.
        """
        if _int_mm is not None and self.codes.shape[1] % 8 == 0:
            return self._approximate_int8(query, positions)
        q = query.astype(np.float32, copy=False)[:, None]
        n = self.codes.shape[0] if positions is None else positions.size
        out = np.empty(n, dtype=np.float32)
        for lo in range(0, n, SCAN_BLOCK):
            hi = min(n, lo + SCAN_BLOCK)
            block = self.codes[lo:hi] if positions is None else self.codes[positions[lo:hi]]
            out[lo:hi] = (block.astype(np.float32) @ q).ravel()
        out *= self.scales if positions is None else self.scales[positions]
        return out

    def _approximate_int8(self, query: Matrix, positions: Positions | None) -> Matrix:
        import torch  # noqa: PLC0415 - only where the int8 product is used

        int_mm = _int_mm
        if int_mm is None:  # pragma: no cover - approximate() checked it
            raise RuntimeError("no int8 kernel")
        q_codes, q_scale = quantize(query.astype(np.float32, copy=False)[None, :])
        # _int_mm wants at least 8 columns: the query repeated (the extra columns cost ~nothing).
        rhs = torch.from_numpy(np.repeat(q_codes.T, 8, axis=1).copy())
        n = self.codes.shape[0] if positions is None else positions.size
        out = np.empty(n, dtype=np.float32)
        step = SCAN_BLOCK * 16  # large blocks: the int8 kernel streams them without widening
        for lo in range(0, n, step):
            hi = min(n, lo + step)
            block = self.codes[lo:hi] if positions is None else self.codes[positions[lo:hi]]
            if hi - lo <= 16:  # the kernel wants more than 16 rows
                out[lo:hi] = (block.astype(np.float32) @ q_codes[0].astype(np.float32)).ravel()
                continue
            out[lo:hi] = int_mm(torch.from_numpy(np.ascontiguousarray(block)), rhs)[:, 0].numpy()
        out *= float(q_scale[0])
        out *= self.scales if positions is None else self.scales[positions]
        return out

    def top(self, query: Matrix, positions: Positions | None, n: int, rerank: int) -> tuple[Positions, Matrix]:
        """The ``n`` best positions by exact cosine among the approximate top ``max(n, rerank)``,
        best first (ties: lower position first)."""
        pool = np.arange(self.codes.shape[0], dtype=np.int64) if positions is None else positions
        if pool.size == 0 or n <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        approx = self.approximate(query, positions)
        keep = min(pool.size, max(n, rerank))
        candidates = np.sort(pool[np.argpartition(-approx, keep - 1)[:keep]]) if keep < pool.size else pool
        exact = (self.exact(candidates) @ query.astype(np.float32)[:, None]).ravel()
        order = np.lexsort((candidates, -exact))[:n]
        return candidates[order], exact[order]
