"""Where the expensive part of ingest runs: niced worker processes with a time limit per document.

A thread cannot be stopped, so a document that takes minutes to parse in a request thread keeps a
core busy and SIGTERM waiting. ``pebble``'s process pool kills a worker that overruns its task's
timeout and starts a new one; its workers run at a lower CPU priority (``nice``) so queries keep
the cores they need. Small plain text is prepared in-process: a worker round trip costs more than
chunking it (``IngestSettings.inline_bytes``).

Indexing itself (embedding, the backend write) runs in the caller's thread, but at most
``slots`` documents at a time per process; others wait up to ``queue_timeout`` and then get 503.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future, TimeoutError
from contextlib import contextmanager

from pebble import ProcessPool

from gateway.errors import GatewayError, ServiceUnavailable
from gateway.ingest.documents import Submission
from gateway.ingest.prepare import DocumentTooLarge, IngestLimits, PreparedDocument, prepare

log = logging.getLogger("gateway.ingest")

WORKER_NICENESS = 10
WORKER_START_SECONDS = 30.0
"""Allowance for a worker to start (a forkserver and its imports, on a loaded machine)."""


class IngestBusy(ServiceUnavailable):
    code = "ingest_busy"
    title = "Ingest capacity exhausted, retry later"


def _lower_priority() -> None:
    os.nice(WORKER_NICENESS)


class IngestWorkers:
    """Prepares documents in a bounded, killable way and bounds concurrent indexing."""

    def __init__(
        self, *, workers: int, parse_timeout: float, inline_bytes: int, queue_timeout: float, slots: int = 1
    ) -> None:
        self._workers = workers
        self._parse_timeout = parse_timeout
        self._inline_bytes = inline_bytes
        self._queue_timeout = queue_timeout
        self._slots = threading.BoundedSemaphore(slots)
        self._pool: ProcessPool | None = None
        self._pending: set[Future[PreparedDocument]] = set()
        self._pool_lock = threading.Lock()
        self._closed = False

    def prepare(self, submission: Submission, limits: IngestLimits) -> PreparedDocument:
        """``prepare`` in-process for small plain text, else in a worker with a time limit.

        Raises:
            DocumentTooLarge: parsing took longer than the limit (the worker was killed).
            GatewayError: whatever ``prepare`` refused (400/413).
            ServiceUnavailable: the workers are shut down or a worker died.
        """
        if submission.content is None and submission.size <= self._inline_bytes:
            return prepare(submission, limits)
        future = self._pool_or_raise().schedule(prepare, args=(submission, limits), timeout=self._parse_timeout)
        with self._pool_lock:
            self._pending.add(future)
        try:
            # The pool's timeout bounds the parse once it runs; this one bounds the wait for a
            # worker as well (a pool still starting, or stopped before it took the task).
            return future.result(timeout=self._parse_timeout + max(self._queue_timeout, WORKER_START_SECONDS))
        except TimeoutError:
            if not future.done():  # no worker took it in time: capacity, not the document
                future.cancel()  # type: ignore[no-untyped-call]  # pebble: no annotations
                raise IngestBusy() from None
            log.warning("document parse timed out", extra={"document_id": submission.document_id})
            raise DocumentTooLarge(f"the document took longer than {self._parse_timeout:g}s to parse") from None
        except GatewayError:
            raise
        except Exception as exc:
            # A killed or crashed worker, or a pool stopped under us at shutdown (pebble then fails
            # the future with whatever broke): never a verdict on the document.
            log.warning("ingest worker failed", extra={"exc_type": type(exc).__name__, "closing": self._closed})
            code = "shutting_down" if self._closed else "ingest_unavailable"
            raise ServiceUnavailable("the ingest worker stopped", code=code) from None
        finally:
            with self._pool_lock:
                self._pending.discard(future)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the indexing slots (embedding and index write) for the block.

        Raises:
            IngestBusy: no slot came free within the queue timeout.
        """
        if self._closed or not self._slots.acquire(timeout=self._queue_timeout):
            raise IngestBusy()
        try:
            yield
        finally:
            self._slots.release()

    def _pool_or_raise(self) -> ProcessPool:
        with self._pool_lock:
            if self._closed:
                raise ServiceUnavailable("the gateway is shutting down", code="shutting_down")
            if self._pool is None:
                # forkserver: workers fork from a clean single-threaded server, never from this
                # process (its threads hold locks a forked child would inherit).
                context = multiprocessing.get_context("forkserver")
                self._pool = ProcessPool(self._workers, initializer=_lower_priority, context=context)
            return self._pool

    def shutdown(self) -> None:
        """Kill the workers now (pending parses fail with 503); no new work is accepted."""
        with self._pool_lock:
            self._closed = True
            pool, self._pool = self._pool, None
            pending, self._pending = list(self._pending), set()
        for future in pending:
            future.cancel()  # a task no worker took yet would otherwise wait forever
        if pool is not None:
            pool.stop()  # type: ignore[no-untyped-call]  # pebble's stop() has no annotations
            pool.join(timeout=5)
