"""Int8 codes and their scan kernel: codes approximate the rows, the torch kernel and the numpy
fallback agree with float32 within the rounding the exact re-rank absorbs, odd shapes work."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.retrieval.embedded import quantized
from gateway.retrieval.embedded.quantized import approximate, quantize


def unit_rows(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d))
    rows: np.ndarray = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return rows


@pytest.fixture(params=["torch kernel", "numpy fallback"])
def kernel(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "numpy fallback":
        monkeypatch.setattr(quantized, "_kernel", [None])
    return str(request.param)


def test_quantised_rows_approximate_the_originals() -> None:
    x = unit_rows(20_000, 64)  # more rows than one quantisation slice
    codes, scales = quantize(x)
    assert codes.dtype == np.int8
    assert scales.dtype == np.float32
    assert np.abs(codes.astype(np.float32) * scales[:, None] - x).max() <= scales.max() / 2 + 1e-7


def test_zero_rows_quantise_to_zero() -> None:
    codes, scales = quantize(np.zeros((2, 8), dtype=np.float32))
    assert not codes.any()
    assert np.all(scales == 1.0)


def test_the_int8_kernel_is_available_with_the_pinned_torch() -> None:
    assert quantized.kernel() is not None


@pytest.mark.parametrize(("rows", "dimension"), [(1, 384), (3, 16), (17, 64), (5000, 384), (7, 4), (9, 1)])
def test_approximate_scores_are_close_to_float32(kernel: str, rows: int, dimension: int) -> None:
    x = unit_rows(rows, dimension)
    query = unit_rows(1, dimension, seed=1)[0]
    got = approximate(*quantize(x), query)
    assert got.shape == (rows,)
    # int8 rounding (<= scale / 2 a dimension) plus bfloat16's ~3 significant digits.
    assert np.abs(got - x @ query).max() < 0.02


def test_no_rows_no_scores(kernel: str) -> None:
    assert approximate(*quantize(np.zeros((0, 32), np.float32)), np.ones(32, np.float32)).shape == (0,)
