"""Bounded concurrency and time bounds for the expensive pipeline stages.

A ``Stage`` is a fixed number of worker threads. A call first waits (at most ``queue_seconds``)
for a free slot, else 503 ``busy``; then it runs on a slot's thread and the caller waits at most
``timeout`` for it, else 503 ``timeout``. A call that overruns keeps its slot until it really
ends, so a hung backend cannot pile up threads: the slots *are* the bound on concurrent work.

The audit write is not run here: a write abandoned by its caller could still commit a row for an
answer that was never delivered. Its bound is the database's own (``lock_timeout``, ``busy_timeout``,
``statement_timeout``), which rolls the row back (see ``gateway.db.make_engine``).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from gateway.errors import Busy, StageTimeout
from gateway.settings import StageSettings

log = logging.getLogger("gateway.stages")

T = TypeVar("T")


class Stage:
    """``run(fn)``: at most ``slots`` calls at once, each bounded by ``timeout`` seconds."""

    def __init__(self, name: str, *, slots: int, timeout: float, queue_seconds: float) -> None:
        self.name = name
        self.timeout = timeout
        self.queue_seconds = queue_seconds
        self._slots = threading.BoundedSemaphore(slots)
        self._work: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = queue.SimpleQueue()
        # Daemon threads, not a ThreadPoolExecutor: the interpreter joins an executor's threads at
        # exit, so one call hung in a backend would keep a SIGTERMed process alive for ever.
        self._threads = [
            threading.Thread(target=self._serve, name=f"stage-{name}-{i}", daemon=True) for i in range(slots)
        ]
        for thread in self._threads:
            thread.start()

    def _serve(self) -> None:
        while (item := self._work.get()) is not None:
            fn, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller, whatever it is
                future.set_exception(exc)

    def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on a slot.

        Raises:
            Busy: no slot came free within ``queue_seconds``.
            StageTimeout: ``fn`` did not return within ``timeout`` (it keeps its slot until it does).
        """
        if not self._slots.acquire(timeout=self.queue_seconds):
            log.warning("stage busy: every slot stayed taken", extra={"stage": self.name})
            raise Busy()
        future: Future[T] = Future()
        future.add_done_callback(lambda _f: self._slots.release())
        self._work.put((fn, future))
        try:
            return future.result(timeout=self.timeout)
        except FutureTimeout:
            log.error("stage timed out", extra={"stage": self.name, "timeout_s": self.timeout})
            raise StageTimeout() from None

    def close(self) -> None:
        """Stop the idle threads; a call still running finishes (or not) on its daemon thread."""
        for _ in self._threads:
            self._work.put(None)


class Stages:
    """The pipeline's bounded stages: query embedding, retrieval and generation."""

    def __init__(self, settings: StageSettings) -> None:
        wait = settings.queue_seconds
        self.embed = Stage(
            "embed",
            slots=settings.embedding_concurrency,
            timeout=settings.retrieval_timeout_seconds,
            queue_seconds=wait,
        )
        # Retrieval is I/O bound on a remote backend: its slots only bound the threads a hung backend can hold.
        self.retrieve = Stage(
            "retrieve",
            slots=max(8, settings.embedding_concurrency * 2),
            timeout=settings.retrieval_timeout_seconds,
            queue_seconds=wait,
        )
        self.generate = Stage(
            "generate",
            slots=settings.generation_concurrency,
            timeout=settings.generation_timeout_seconds,
            queue_seconds=wait,
        )

    @classmethod
    def unbounded(cls) -> Stages:
        """Generous defaults, for pipelines built outside ``build_services`` (tests, benchmarks)."""
        return cls(StageSettings())

    def close(self) -> None:
        for stage in (self.embed, self.retrieve, self.generate):
            stage.close()
