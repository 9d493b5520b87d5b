"""The int8 scan with exact re-rank: scores close to float32, the same top-k as an exact scan on
clustered data, only the given (ACL-filtered) positions ever returned, block edges handled."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.retrieval.embedded import quantized
from gateway.retrieval.embedded.quantized import QuantizedVectors, quantize


def corpus(n: int, d: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((32, d))
    x = centres[rng.integers(0, 32, n)] + 0.6 * rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def exact_top(x: np.ndarray, q: np.ndarray, positions: np.ndarray, n: int) -> np.ndarray:
    s = x[positions] @ q
    return positions[np.lexsort((positions, -s))[:n]]


def test_quantised_rows_approximate_the_originals() -> None:
    x = corpus(500)
    codes, scales = quantize(x)
    assert codes.dtype == np.int8
    assert np.abs(codes.astype(np.float32) * scales[:, None] - x).max() <= scales.max() / 2 + 1e-7


def test_the_int8_kernel_is_available_with_the_pinned_torch() -> None:
    assert quantized._int_mm is not None


def test_zero_rows_quantise_to_zero() -> None:
    codes, scales = quantize(np.zeros((2, 8), dtype=np.float32))
    assert not codes.any()
    assert np.all(scales == 1.0)


@pytest.mark.parametrize("kernel", ["int8", "widened"])
@pytest.mark.parametrize("block", [7, 64, 100_000])
def test_top_equals_the_exact_top_with_a_wide_enough_rerank(
    monkeypatch: pytest.MonkeyPatch, block: int, kernel: str
) -> None:
    monkeypatch.setattr(quantized, "SCAN_BLOCK", block)
    if kernel == "widened":
        monkeypatch.setattr(quantized, "_int_mm", None)
    x = corpus(3000)
    qv = QuantizedVectors(*quantize(x), exact=lambda p: x[p])
    rng = np.random.default_rng(1)
    for q in x[rng.integers(0, 3000, 20)] + 0.1 * rng.standard_normal((20, 64)).astype(np.float32):
        every = np.arange(3000, dtype=np.int64)
        got, scores = qv.top(q, None, 10, rerank=200)
        assert list(got) == list(exact_top(x, q, every, 10))
        assert np.allclose(scores, x[got] @ q, atol=1e-6)  # exact float32 scores, not approximations


def test_only_the_given_positions_are_returned() -> None:
    x = corpus(2000)
    qv = QuantizedVectors(*quantize(x), exact=lambda p: x[p])
    visible = np.arange(1, 2000, 7, dtype=np.int64)
    q = x[0]  # the best row overall is not visible
    got, _ = qv.top(q, visible, 10, rerank=100)
    assert set(got.tolist()) <= set(visible.tolist())
    assert list(got) == list(exact_top(x, q, visible, 10))


def test_fewer_visible_rows_than_asked() -> None:
    x = corpus(50)
    qv = QuantizedVectors(*quantize(x), exact=lambda p: x[p])
    got, _ = qv.top(x[3], np.array([3, 9], dtype=np.int64), 10, rerank=100)
    assert list(got) == [3, 9] or list(got) == [9, 3]
    empty, _ = qv.top(x[3], np.empty(0, dtype=np.int64), 10, rerank=100)
    assert empty.size == 0
