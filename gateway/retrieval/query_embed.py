"""Query embeddings under concurrency: a bounded LRU in front of a micro-batcher.

Each ``/v1/search`` and ``/v1/ask`` request embeds one short query. Run one forward pass per
request and eight concurrent requests fight for two cores (the stage median went from ~12 ms alone
to ~70 ms with eight in flight). Here the request threads hand their texts to one batching thread,
which waits at most ``window`` after the first arrival, embeds everything queued in one forward
pass and hands each caller its own rows. A batch of eight short queries costs little more than
one, so throughput grows with concurrency instead of falling.

Both layers return exactly what the wrapped embedder returns for the same text (the tests compare
rows); the cache key is a digest of the model id and the whitespace-normalised text (whitespace is
what the tokenizer splits on anyway), so no question text is kept in memory as a key.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

from gateway.batching import MicroBatcher
from gateway.errors import ServiceUnavailable
from gateway.retrieval.base import Vector
from gateway.retrieval.embed import Embedder
from gateway.settings import EmbeddingSettings


class EmbeddingBusy(ServiceUnavailable):
    """The query-embedding queue is full: shed load with a 503 rather than queue without bound."""

    code = "embedding_busy"


def normalise_query(text: str) -> str:
    """Collapse runs of whitespace and trim: the tokenizer yields the same tokens either way."""
    return " ".join(text.split())


class CachedEmbedder:
    """A bounded, thread-safe LRU of rows keyed by (model id, normalised text)."""

    def __init__(self, inner: Embedder, capacity: int) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dimension = inner.dimension
        self.capacity = capacity
        self._rows: OrderedDict[bytes, Vector] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _key(self, text: str) -> bytes:
        payload = f"{self.model_id}\x00{normalise_query(text)}".encode()
        return hashlib.blake2b(payload, digest_size=16).digest()

    def embed(self, texts: Sequence[str]) -> Vector:
        """Cached rows where present; the rest embedded in one call to the wrapped embedder."""
        keys = [self._key(t) for t in texts]
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        missing: list[int] = []
        with self._lock:
            for i, key in enumerate(keys):
                row = self._rows.get(key)
                if row is None:
                    missing.append(i)
                else:
                    self._rows.move_to_end(key)
                    out[i] = row
            self.hits += len(texts) - len(missing)
            self.misses += len(missing)
        if not missing:
            return out
        fresh = self.inner.embed([normalise_query(texts[i]) for i in missing])
        out[missing] = fresh
        with self._lock:
            for i, row in zip(missing, fresh, strict=True):
                self._rows[keys[i]] = row.copy()
                self._rows.move_to_end(keys[i])
            while len(self._rows) > self.capacity:
                self._rows.popitem(last=False)
        return out

    def close(self) -> None:
        """Close the wrapped embedder when it has something to stop (the batching thread)."""
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()


class BatchingEmbedder(MicroBatcher[str, Vector]):
    """Concurrent callers' texts embedded together by one thread, in one forward pass per batch
    (a :class:`gateway.batching.MicroBatcher` over the wrapped embedder).

    ``embed`` blocks its caller until its own rows are ready. An error from the wrapped embedder
    is raised in every caller of that batch. At most ``max_queue`` callers wait; one more gets
    :class:`EmbeddingBusy` (503) at once.
    """

    def __init__(
        self,
        inner: Embedder,
        *,
        window_seconds: float,
        max_batch: int,
        max_queue: int,
        on_thread_start: Callable[[], None] | None = None,
    ) -> None:
        """``on_thread_start`` runs first on the batching thread (e.g. to set its torch threads)."""
        super().__init__(
            lambda texts: list(inner.embed(texts)),
            name="query-embedder",
            window_seconds=window_seconds,
            max_batch=max_batch,
            max_queue=max_queue,
            busy=lambda: EmbeddingBusy("too many queries are waiting to be embedded"),
            on_thread_start=on_thread_start,
        )
        self.inner = inner
        self.model_id = inner.model_id
        self.dimension = inner.dimension

    def embed(self, texts: Sequence[str]) -> Vector:
        """Rows for ``texts``, computed in a batch with whatever else is queued.

        Raises:
            EmbeddingBusy: ``max_queue`` callers are already waiting.
        """
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        return np.stack(self.run(texts)).astype(np.float32, copy=False)


def query_embedder(inner: Embedder, settings: EmbeddingSettings) -> Embedder:
    """The stack the pipeline embeds queries with: the LRU (unless ``query_cache_size`` is 0) over
    the batcher (when ``query_batching``) over ``inner``."""
    embedder: Embedder = inner
    if settings.query_batching:
        use_threads = getattr(inner, "use_threads", None)
        threads = settings.query_threads
        embedder = BatchingEmbedder(
            inner,
            window_seconds=settings.query_batch_window_ms / 1000,
            max_batch=settings.query_batch_max,
            max_queue=settings.query_queue_max,
            on_thread_start=(lambda: use_threads(threads)) if callable(use_threads) and threads else None,
        )
    if settings.query_cache_size > 0:
        embedder = CachedEmbedder(embedder, settings.query_cache_size)
    return embedder
