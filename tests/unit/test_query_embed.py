"""Query embeddings under concurrency: the micro-batcher and the LRU return exactly the rows the
wrapped embedder would, fail every waiter of a failed batch, and refuse work beyond their bounds."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pytest
from prometheus_client import generate_latest

from gateway.deps import watch_query_embedder
from gateway.errors import ServiceUnavailable
from gateway.observability import Metrics
from gateway.retrieval.base import Vector
from gateway.retrieval.embed import Embedder, HashingEmbedder, TransformersEmbedder
from gateway.retrieval.query_embed import (
    BatchingEmbedder,
    CachedEmbedder,
    EmbeddingBusy,
    normalise_query,
    query_embedder,
)
from gateway.settings import EmbeddingSettings

QUESTIONS = [f"what does clause {i} of the travel policy say about {w}?" for i, w in enumerate("abcdefghijklmnop")]


class CountingEmbedder(HashingEmbedder):
    """The hashing embedder, counting calls and texts (a real embedder, observed)."""

    def __init__(self) -> None:
        super().__init__(64)
        self.calls: list[int] = []

    def embed(self, texts: Sequence[str]) -> Vector:
        self.calls.append(len(texts))
        return super().embed(texts)


class FailingEmbedder(HashingEmbedder):
    """Fails while ``broken`` is set: the model backend down."""

    broken = True

    def embed(self, texts: Sequence[str]) -> Vector:
        if self.broken:
            raise RuntimeError("model backend down")
        return super().embed(texts)


class GatedEmbedder(HashingEmbedder):
    """Blocks inside ``embed`` until released: a slow forward pass holding the batching thread."""

    def __init__(self) -> None:
        super().__init__(64)
        self.entered = threading.Event()
        self.release = threading.Event()

    def embed(self, texts: Sequence[str]) -> Vector:
        self.entered.set()
        self.release.wait(10)
        return super().embed(texts)


def concurrently(embedder: Embedder, texts: list[str]) -> tuple[list[Vector | None], list[BaseException | None]]:
    """Each text embedded by its own thread, all released at once."""
    rows: list[Vector | None] = [None] * len(texts)
    errors: list[BaseException | None] = [None] * len(texts)
    barrier = threading.Barrier(len(texts))

    def work(i: int) -> None:
        barrier.wait()
        try:
            rows[i] = embedder.embed([texts[i]])[0]
        except BaseException as exc:  # collected and asserted on by the caller
            errors[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    return rows, errors


def test_concurrent_queries_share_forward_passes_and_get_their_own_rows() -> None:
    inner = CountingEmbedder()
    batcher = BatchingEmbedder(inner, window_seconds=0.05, max_batch=32, max_queue=64)
    rows, errors = concurrently(batcher, QUESTIONS)
    assert errors == [None] * len(QUESTIONS)
    assert np.array_equal(np.stack(rows), HashingEmbedder(64).embed(QUESTIONS))  # type: ignore[arg-type]
    assert sum(inner.calls) == len(QUESTIONS)
    assert len(inner.calls) < len(QUESTIONS)  # batched: fewer forward passes than queries
    batcher.close()


@pytest.mark.parametrize(("precision", "atol"), [("fp32", 1e-5), ("bf16", 2e-3)])
def test_batched_rows_of_the_real_model_equal_its_one_by_one_rows(precision: str, atol: float) -> None:
    """fp32: equal to float rounding. bf16 (the default where the CPU has it): batch shapes change
    bf16 rounding, as they already do for batched ingest; the rows stay within 2e-3."""
    model = TransformersEmbedder(EmbeddingSettings(threads=1, precision=precision))
    batcher = BatchingEmbedder(model, window_seconds=0.05, max_batch=32, max_queue=64)
    texts = [*QUESTIONS[:8], "short", "a much longer question about expenses, per diems and hotel bills abroad"]
    rows, errors = concurrently(batcher, texts)
    assert errors == [None] * len(texts)
    alone = np.stack([model.embed([t])[0] for t in texts])
    # Padding is masked out; only float rounding of differently shaped matmuls differs.
    assert np.allclose(np.stack(rows), alone, atol=atol)  # type: ignore[arg-type]
    assert batcher.batches < len(texts)
    batcher.close()


def test_a_failed_forward_pass_fails_every_waiter_and_the_batcher_recovers() -> None:
    inner = FailingEmbedder(64)
    batcher = BatchingEmbedder(inner, window_seconds=0.05, max_batch=32, max_queue=64)
    _, errors = concurrently(batcher, QUESTIONS[:6])
    assert all(isinstance(e, RuntimeError) for e in errors)
    inner.broken = False
    assert np.array_equal(batcher.embed(["after"]), HashingEmbedder(64).embed(["after"]))
    batcher.close()


def test_a_full_queue_refuses_at_once_with_503() -> None:
    inner = GatedEmbedder()
    batcher = BatchingEmbedder(inner, window_seconds=0.0, max_batch=1, max_queue=2)
    holder = threading.Thread(target=batcher.embed, args=(["holds the forward pass"],))
    holder.start()
    assert inner.entered.wait(5)
    waiting = [threading.Thread(target=batcher.embed, args=([f"queued {i}"],)) for i in range(2)]
    for t in waiting:
        t.start()
    while len(batcher._queue) < 2:  # both queued behind the held forward pass
        threading.Event().wait(0.001)
    with pytest.raises(EmbeddingBusy) as refused:
        batcher.embed(["one too many"])
    assert refused.value.status_code == 503
    inner.release.set()
    for t in [holder, *waiting]:
        t.join(5)
    batcher.close()
    with pytest.raises(ServiceUnavailable):
        batcher.embed(["after close"])


def test_cache_returns_the_same_row_and_keys_on_normalised_text() -> None:
    inner = CountingEmbedder()
    cache = CachedEmbedder(inner, capacity=8)
    first = cache.embed(["travel  policy\n"])
    again = cache.embed(["  travel policy"])
    assert np.array_equal(first, again)
    assert np.array_equal(first, HashingEmbedder(64).embed(["travel policy"]))
    assert inner.calls == [1]
    assert (cache.hits, cache.misses) == (1, 1)
    assert normalise_query(" a \t b\n") == "a b"


def test_cache_is_bounded_and_evicts_the_least_recently_used() -> None:
    inner = CountingEmbedder()
    cache = CachedEmbedder(inner, capacity=2)
    cache.embed(["a", "b"])
    cache.embed(["a"])  # a is now the most recent
    cache.embed(["c"])  # evicts b
    assert len(cache._rows) == 2
    cache.embed(["a"])
    assert inner.calls == [2, 1]
    cache.embed(["b"])
    assert inner.calls == [2, 1, 1]


def test_cached_rows_cannot_be_changed_through_a_returned_array() -> None:
    cache = CachedEmbedder(CountingEmbedder(), capacity=4)
    row = cache.embed(["x"])
    row[:] = 0
    assert cache.embed(["x"]).any()


@pytest.mark.parametrize(
    ("batching", "cache_size", "layers"),
    [
        (True, 16, (CachedEmbedder, BatchingEmbedder)),
        (True, 0, (BatchingEmbedder,)),
        (False, 16, (CachedEmbedder,)),
        (False, 0, ()),
    ],
)
def test_settings_pick_the_layers(batching: bool, cache_size: int, layers: tuple[type, ...]) -> None:
    inner = CountingEmbedder()
    stack = query_embedder(inner, EmbeddingSettings(query_batching=batching, query_cache_size=cache_size))
    found: list[type] = []
    while stack is not inner:
        found.append(type(stack))
        stack = stack.inner  # type: ignore[attr-defined]
    assert tuple(found) == layers


def test_a_failing_thread_start_hook_does_not_strand_callers() -> None:
    def broken() -> None:
        raise RuntimeError("no such setting")

    batcher = BatchingEmbedder(
        HashingEmbedder(64), window_seconds=0.0, max_batch=4, max_queue=4, on_thread_start=broken
    )
    assert np.array_equal(batcher.embed(["still served"]), HashingEmbedder(64).embed(["still served"]))
    batcher.close()


def test_metrics_report_lru_hits_misses_and_forward_passes() -> None:
    inner = CountingEmbedder()
    stack = CachedEmbedder(BatchingEmbedder(inner, window_seconds=0.0, max_batch=8, max_queue=8), capacity=8)
    metrics = Metrics()
    watch_query_embedder(metrics, stack)
    stack.embed(["first question"])
    stack.embed(["first question"])
    stack.embed(["second question"])
    text = generate_latest(metrics.registry).decode()
    for result, value in [("hit", 1.0), ("miss", 2.0), ("batch", 2.0)]:
        assert f'gateway_query_embeddings{{result="{result}"}} {value}' in text
    stack.close()
