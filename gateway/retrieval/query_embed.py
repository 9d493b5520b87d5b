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
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from gateway.errors import ServiceUnavailable
from gateway.retrieval.base import Vector
from gateway.retrieval.embed import Embedder
from gateway.settings import EmbeddingSettings

log = logging.getLogger(__name__)


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


@dataclass
class _Waiter:
    texts: Sequence[str]
    done: threading.Event = field(default_factory=threading.Event)
    rows: Vector | None = None
    error: BaseException | None = None


class BatchingEmbedder:
    """Concurrent callers' texts embedded together by one thread, in one forward pass per batch.

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
        self.inner = inner
        self._on_thread_start = on_thread_start
        self.model_id = inner.model_id
        self.dimension = inner.dimension
        self.window = window_seconds
        self.max_batch = max(1, max_batch)
        self.max_queue = max(1, max_queue)
        self.batches = 0
        """Forward passes run so far (the tests and the bench read it)."""
        self._queue: deque[_Waiter] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def embed(self, texts: Sequence[str]) -> Vector:
        """Rows for ``texts``, computed in a batch with whatever else is queued.

        Raises:
            EmbeddingBusy: ``max_queue`` callers are already waiting.
        """
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        waiter = _Waiter(texts)
        with self._cond:
            if self._closed:
                raise ServiceUnavailable("the query embedder is shut down")
            if len(self._queue) >= self.max_queue:
                raise EmbeddingBusy("too many queries are waiting to be embedded")
            self._queue.append(waiter)
            self._ensure_thread()
            self._cond.notify()
        waiter.done.wait()
        if waiter.error is not None:
            raise waiter.error
        assert waiter.rows is not None
        return waiter.rows

    def close(self) -> None:
        """Stop the batching thread after the queued callers are served."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="query-embedder", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        if self._on_thread_start is not None:
            try:
                self._on_thread_start()
            except Exception as exc:  # a thread setting is a tuning; the queued callers must still be served
                log.warning("query batcher: thread start hook failed", exc_info=exc)
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self._serve(batch)

    def _next_batch(self) -> list[_Waiter] | None:
        """Wait for a first caller, then up to ``window`` for more (or until the batch is full)."""
        with self._cond:
            while not self._queue:
                if self._closed:
                    return None
                self._cond.wait()
            deadline = time.monotonic() + self.window
            while self._size() < self.max_batch and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            batch: list[_Waiter] = []
            size = 0
            while self._queue and (not batch or size + len(self._queue[0].texts) <= self.max_batch):
                waiter = self._queue.popleft()
                batch.append(waiter)
                size += len(waiter.texts)
            return batch

    def _size(self) -> int:
        return sum(len(w.texts) for w in self._queue)

    def _serve(self, batch: list[_Waiter]) -> None:
        texts = [t for w in batch for t in w.texts]
        try:
            rows = self.inner.embed(texts)
        except BaseException as exc:  # every waiter of this batch sees the failure, the thread lives on
            for waiter in batch:
                waiter.error = exc
                waiter.done.set()
            return
        finally:
            self.batches += 1
        start = 0
        for waiter in batch:
            waiter.rows = rows[start : start + len(waiter.texts)].copy()
            start += len(waiter.texts)
            waiter.done.set()


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
