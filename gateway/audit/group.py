"""Group commit for audit appends: rows that are ready together are written in one transaction.

Every request appends one row and waits for it to commit before it answers. Under concurrency
each append would otherwise take the chain's write lock, read the head, insert and commit on its
own, and the others queue behind that lock (on SQLite, in ``busy_timeout`` sleeps). Here the first
caller becomes the *leader*: it takes every row queued so far (up to ``max_batch``), appends them
in order in one serialised transaction, commits, and wakes each caller with its own entry or
error. Callers arriving meanwhile queue; when the leader is done the oldest of them leads the next
batch. The chain stays linear (one writer, rows in queue order, the database lock still held for
the append across processes), and no caller returns before its own row is committed.

A failed batch is retried one row per transaction, so one unwritable row fails only its caller.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

R = TypeVar("R")
E = TypeVar("E")


@dataclass
class _Pending(Generic[R, E]):
    record: R
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    entry: E | None = None
    error: BaseException | None = None


class GroupCommit(Generic[R, E]):
    """Leader/follower batching of ``write(records) -> entries`` (one transaction per call)."""

    def __init__(self, write: Callable[[Sequence[R]], list[E]], *, max_batch: int) -> None:
        self._write = write
        self.max_batch = max(1, max_batch)
        self._queue: deque[_Pending[R, E]] = deque()
        self._lock = threading.Lock()
        self._leading = False
        self.batches = 0
        """Transactions written so far (the tests and the bench read it)."""

    def submit(self, record: R) -> E:
        """Append ``record`` with whatever else is ready; returns once it is committed.

        Raises:
            BaseException: whatever the write raised for this record's transaction.
        """
        me: _Pending[R, E] = _Pending(record)
        with self._lock:
            self._queue.append(me)
            me.lead = not self._leading
            self._leading = True
        if not me.lead:
            me.done.wait()  # woken with a result, or to lead the next batch
        if me.lead:
            self._lead()
        if me.error is not None:
            raise me.error
        assert me.entry is not None
        return me.entry

    def _lead(self) -> None:
        with self._lock:
            batch = [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
        try:
            self._commit(batch)
        finally:
            with self._lock:
                if self._queue:  # hand over: the oldest waiter leads the next batch
                    nxt = self._queue[0]
                    nxt.lead = True
                    nxt.done.set()
                else:
                    self._leading = False

    def _commit(self, batch: list[_Pending[R, E]]) -> None:
        try:
            entries = self._write([p.record for p in batch])
            self.batches += 1
        except BaseException as exc:
            if len(batch) == 1:
                batch[0].error = exc
            else:
                for p in batch:  # isolate the failure: one transaction per row
                    self._commit([p])
                return
        else:
            for p, entry in zip(batch, entries, strict=True):
                p.entry = entry
        for p in batch:
            p.done.set()
