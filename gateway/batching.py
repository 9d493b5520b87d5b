"""A micro-batcher: concurrent callers' items handled together by one thread, in one call.

The expensive per-request model work (the query's forward pass, the PII guard's spaCy pass over the
question and the answer) costs much less per item in a batch than one by one, and on two cores the
request threads only fight over the CPU (and the GIL) when each runs its own. Here each caller
hands its items to one serving thread, which waits at most ``window`` after the first arrival
(0: no wait; whatever queued while the previous batch ran forms the next one), calls ``fn`` once on
everything queued and hands each caller its own slice of the results. A lone caller pays one
thread hand-off (and the window); eight concurrent callers share a call.

``fn`` must return one result per item, in order, each the same as for the item alone: callers
cannot tell batched from unbatched results (the users' tests compare them).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from gateway.errors import ServiceUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Waiter(Generic[T, R]):
    items: Sequence[T]
    done: threading.Event = field(default_factory=threading.Event)
    results: Sequence[R] | None = None
    error: BaseException | None = None


class MicroBatcher(Generic[T, R]):
    """``run(items)`` blocks until ``fn`` has handled them, batched with whatever else is queued.

    An error from ``fn`` is raised in every caller of that batch, and the thread lives on. At most
    ``max_queue`` callers wait; one more gets ``busy`` (a 503) at once.
    """

    def __init__(
        self,
        fn: Callable[[list[T]], Sequence[R]],
        *,
        name: str,
        window_seconds: float,
        max_batch: int,
        max_queue: int,
        busy: Callable[[], ServiceUnavailable],
        on_thread_start: Callable[[], None] | None = None,
    ) -> None:
        """``on_thread_start`` runs first on the serving thread (e.g. to set its torch threads)."""
        self.fn = fn
        self.name = name
        self.window = window_seconds
        self.max_batch = max(1, max_batch)
        self.max_queue = max(1, max_queue)
        self._busy = busy
        self._on_thread_start = on_thread_start
        self.batches = 0
        """Calls of ``fn`` so far (metrics, tests and the bench read it)."""
        self._queue: deque[_Waiter[T, R]] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def run(self, items: Sequence[T]) -> Sequence[R]:
        """The results for ``items``, in order.

        Raises:
            ServiceUnavailable: ``max_queue`` callers are already waiting (``busy``), or the batcher
                is closed.
        """
        if not items:
            return []
        waiter: _Waiter[T, R] = _Waiter(items)
        with self._cond:
            if self._closed:
                raise ServiceUnavailable(f"the {self.name} batcher is shut down")
            if len(self._queue) >= self.max_queue:
                raise self._busy()
            self._queue.append(waiter)
            self._ensure_thread()
            self._cond.notify()
        waiter.done.wait()
        if waiter.error is not None:
            raise waiter.error
        assert waiter.results is not None
        return waiter.results

    def close(self) -> None:
        """Stop the serving thread after the queued callers are served."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._serve_forever, name=f"batch-{self.name}", daemon=True)
            self._thread.start()

    def _serve_forever(self) -> None:
        if self._on_thread_start is not None:
            try:
                self._on_thread_start()
            except Exception as exc:  # a thread setting is a tuning; the queued callers must still be served
                log.warning("%s batcher: thread start hook failed", self.name, exc_info=exc)
        while (batch := self._next_batch()) is not None:
            self._serve(batch)

    def _next_batch(self) -> list[_Waiter[T, R]] | None:
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
            batch: list[_Waiter[T, R]] = []
            size = 0
            while self._queue and (not batch or size + len(self._queue[0].items) <= self.max_batch):
                waiter = self._queue.popleft()
                batch.append(waiter)
                size += len(waiter.items)
            return batch

    def _size(self) -> int:
        return sum(len(w.items) for w in self._queue)

    def _serve(self, batch: list[_Waiter[T, R]]) -> None:
        items = [item for w in batch for item in w.items]
        try:
            results = self.fn(items)
            if len(results) != len(items):
                raise RuntimeError(f"{self.name} batcher: {len(results)} results for {len(items)} items")
        except BaseException as exc:  # every waiter of this batch sees the failure, the thread lives on
            for waiter in batch:
                waiter.error = exc
                waiter.done.set()
            return
        finally:
            self.batches += 1
        start = 0
        for waiter in batch:
            waiter.results = results[start : start + len(waiter.items)]
            start += len(waiter.items)
            waiter.done.set()
