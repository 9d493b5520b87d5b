"""Cross-process locks of one embedded index directory (``fcntl.flock``; released by the kernel
when a process dies, so a crashed worker never leaves the index locked).

Two lock files under ``bm25/``:

* ``.writer.lock``, the **mode** lock, held for a process's lifetime. A single-process engine
  (the default, ``gateway ingest``, ``gateway serve --workers 1``) holds it exclusively; the
  engines of a ``gateway serve --workers N`` group hold it shared. So a lone writer never runs
  beside shared workers, and neither kind starts beside the other: it is refused with a reason.
* ``.write.lock``, the **write** lock of shared engines: exclusive for the length of one write
  (store, lexical indexes, markers, merges), shared while a process catches up with the others'
  writes, so it never reads a tantivy index between a writer's lexical commit and its store
  commit, nor one whose files a merge is replacing.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gateway.retrieval.embedded.lexical import IndexInUse

WRITE_LOCK_TIMEOUT = 60.0
"""A write waits this long for another process's write (a bulk ingest) before giving up."""


class DirectoryLocks:
    """The mode lock and the write lock of one index directory."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._mode: int | None = None
        self._write: int | None = None

    def _fd(self, name: str) -> int:
        self._root.mkdir(parents=True, exist_ok=True)
        return os.open(self._root / name, os.O_RDWR | os.O_CREAT, 0o600)

    def hold_mode(self, *, shared: bool) -> None:
        """Take the mode lock for this process's lifetime; ``IndexInUse`` if the other kind holds it."""
        fd = self._fd(".writer.lock")
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            kind = "a single-process gateway" if shared else "another gateway process"
            raise IndexInUse(f"the embedded index is open for writing in {kind}") from None
        self._mode = fd
        if shared:
            self._write = self._fd(".write.lock")

    @contextmanager
    def writing(self, timeout: float = WRITE_LOCK_TIMEOUT) -> Iterator[None]:
        """Exclusive write lock across the processes sharing the directory."""
        with self._flock(fcntl.LOCK_EX, timeout):
            yield

    @contextmanager
    def reading(self, timeout: float = WRITE_LOCK_TIMEOUT) -> Iterator[None]:
        """Shared: no other process is in the middle of a write while it is held."""
        with self._flock(fcntl.LOCK_SH, timeout):
            yield

    @contextmanager
    def _flock(self, mode: int, timeout: float) -> Iterator[None]:
        fd = self._write
        if fd is None:
            raise RuntimeError("the write lock belongs to shared engines")
        deadline = time.monotonic() + timeout
        delay = 0.001
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise IndexInUse("another gateway process kept the embedded index's write lock") from None
                time.sleep(delay)
                delay = min(2 * delay, 0.02)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        for fd in (self._write, self._mode):
            if fd is not None:
                os.close(fd)  # releases the flock
        self._mode = self._write = None
