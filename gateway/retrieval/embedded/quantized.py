"""Int8 vector codes and the kernel that scans them without widening the matrix.

An exact float32 scan of 1M x 384 vectors reads 1.5 GB per query: bound by memory bandwidth and
1.5 GB resident. Stored as int8 with one scale per vector, the scan reads a quarter of that. The
kernel is torch's weight-only int8 product (``torch._weight_int8pack_mm``: bfloat16 activations,
int8 weights converted in registers, never in memory), which takes the codes as they are (a
zero-copy view of the numpy block, no packing). Where it is missing or fails its self-check, each
block is widened to float32 in slices that stay in cache (about 3x slower, still correct).

The approximate scores only *choose* candidates; the embedded retriever re-ranks them with the
exact float32 vectors from the chunk store (``VectorSnapshot.top``). Measured: ``bench.scale``.
"""

from __future__ import annotations

import ctypes
import platform
import sys
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]
Codes = npt.NDArray[np.int8]

WIDEN_ROWS = 8192
"""Rows widened at once by the fallback: 8192 x 384 x 4 B = 12 MB, about what stays in cache."""

_MIN_DIMENSION = 16
"""Below this the int8 kernel returns garbage in the pinned torch (measured: dimensions < 8)."""

_kernel_lock = threading.Lock()
_kernel: list[Any] = []


def quantize(vectors: Matrix) -> tuple[Codes, Matrix]:
    """Per-vector symmetric int8: ``codes * scale`` approximates each row (error <= scale / 2).

    Works through ``WIDEN_ROWS`` rows at a time so that its float32 temporaries stay small (an
    index opening 1M rows would otherwise peak hundreds of MB above what it keeps).
    """
    codes = np.empty(vectors.shape, dtype=np.int8)
    scales = np.empty(len(vectors), dtype=np.float32)
    for lo in range(0, len(vectors), WIDEN_ROWS):
        part = vectors[lo : lo + WIDEN_ROWS]
        peak = np.abs(part).max(axis=1) if part.shape[1] else np.zeros(len(part), np.float32)
        scales[lo : lo + WIDEN_ROWS] = np.where(peak > 0, peak / 127.0, 1.0)
        codes[lo : lo + WIDEN_ROWS] = np.rint(part / scales[lo : lo + WIDEN_ROWS, None]).clip(-127, 127)
    return codes, scales


def _load_kernel() -> Any:
    """torch's module if its int8 product runs here and agrees with numpy on a probe, else None."""
    try:
        import torch  # noqa: PLC0415 - heavy and optional; the embedder loads it anyway

        rng = np.random.default_rng(0)
        codes = rng.integers(-127, 128, (40, 64), dtype=np.int8)
        query = rng.standard_normal(64).astype(np.float32)
        got = _torch_scores(torch, codes, query)
        want = codes.astype(np.float32) @ query
        if np.abs(got - want).max() > 0.02 * (np.abs(codes).astype(np.float32) @ np.abs(query)).max():
            return None
    except Exception:  # no torch, or no CPU kernel in this build: the numpy path is used
        return None
    return torch


def kernel() -> Any:
    """The int8 kernel's module (loaded once, on first use), or None for the numpy fallback."""
    if not _kernel:
        with _kernel_lock:
            if not _kernel:
                _kernel.append(_load_kernel())
    return _kernel[0]


def _torch_scores(torch: Any, codes: Codes, query: Matrix) -> Matrix:
    lhs = torch.from_numpy(query.reshape(1, -1)).to(torch.bfloat16)
    ones = torch.ones(codes.shape[0], dtype=torch.bfloat16)
    out = torch._weight_int8pack_mm(lhs, torch.from_numpy(codes), ones)
    result: Matrix = out.float().numpy().ravel()
    return result


def _widened_scores(codes: Codes, query: Matrix) -> Matrix:
    out = np.empty(codes.shape[0], dtype=np.float32)
    column = query.astype(np.float32, copy=False)[:, None]
    for lo in range(0, codes.shape[0], WIDEN_ROWS):
        hi = min(codes.shape[0], lo + WIDEN_ROWS)
        out[lo:hi] = (codes[lo:hi].astype(np.float32) @ column).ravel()
    return out


def approximate(codes: Codes, scales: Matrix, query: Matrix) -> Matrix:
    """Approximate dot products of ``query`` with the rows ``codes * scales[:, None]``.

    ``codes`` must be C-contiguous (a block, or rows gathered from one). Error: the int8 rounding
    of each row (<= scale / 2 per dimension) plus bfloat16 rounding of the query and the sums
    (about 3 significant digits); the exact re-rank absorbs both.
    """
    if codes.shape[0] == 0:
        return np.empty(0, dtype=np.float32)
    torch = kernel() if codes.shape[1] >= _MIN_DIMENSION else None
    raw = _torch_scores(torch, codes, query) if torch is not None else _widened_scores(codes, query)
    result: Matrix = raw * scales
    return result


def single_threaded() -> None:
    """Make this thread's int8 scans use one core (OpenMP's thread count is per calling thread).

    The hybrid search runs the vector scan beside BM25: one core each beats two threads fighting
    for two cores (measured under load: 45 vs 52 ms for 1M rows).
    """
    torch = kernel()
    if torch is not None:
        torch.set_num_threads(1)


def release_free_memory() -> bool:
    """Hand the C allocator's free pages back to the system (glibc's ``malloc_trim(0)``).

    Building the index from 10,000-row batches grows arrays by copying and frees float32
    temporaries; glibc keeps the freed pages mapped (resident) inside its heaps. Trimming returns
    every whole free page, in every arena. False where the C library is not glibc (nothing done).
    """
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    trim(0)
    return True
