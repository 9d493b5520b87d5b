"""Per-document write locks: one writer per document at a time, in this process and across processes.

Versions are assigned by the database (``DocumentRegistry.assign_version``), but the index write in
between the two transactions of an update cannot share a transaction: two writers of the same
document must not interleave there, or an older version could overwrite a newer one in the index.
Within a process a fixed array of lock stripes serialises them (bounded memory, unlike a lock per
document id); on PostgreSQL a session advisory lock per document extends that to every gateway.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from gateway.errors import ServiceUnavailable

STRIPES = 256


def document_key(tenant: str, document_id: str) -> int:
    """A signed 64-bit key for (tenant, document id): the advisory lock id, and the stripe's hash."""
    digest = hashlib.sha256(f"{tenant}\x1f{document_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class DocumentLocks:
    """Exclusive access to a set of documents for the duration of a block."""

    def __init__(self, engine: Engine, stripes: int = STRIPES) -> None:
        self._engine = engine
        self._stripes = [threading.Lock() for _ in range(stripes)]
        self._postgres = engine.dialect.name == "postgresql"

    @contextmanager
    def hold(self, tenant: str, document_ids: Iterable[str]) -> Iterator[None]:
        """Lock every named document (always in key order, so two batches cannot deadlock).

        Raises:
            ServiceUnavailable: the database could not take the cross-process locks.
        """
        keys = sorted({document_key(tenant, d) for d in document_ids})
        with ExitStack() as stack:
            for stripe in sorted({k % len(self._stripes) for k in keys}):
                stack.enter_context(self._stripes[stripe])
            if self._postgres and keys:
                stack.enter_context(self._advisory(keys))
            yield

    @contextmanager
    def _advisory(self, keys: list[int]) -> Iterator[None]:
        try:
            conn = self._engine.connect()
            for key in keys:
                conn.execute(select(func.pg_advisory_lock(key)))
            conn.commit()
        except SQLAlchemyError:
            raise ServiceUnavailable("document registry unavailable") from None
        try:
            yield
        finally:
            # Closing the session releases every advisory lock it holds, even if unlock fails.
            try:
                conn.execute(select(func.pg_advisory_unlock_all()))
                conn.commit()
            except SQLAlchemyError:
                conn.invalidate()
            conn.close()
