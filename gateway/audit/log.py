"""The audit log: append hash-chained rows, read them back, verify the chain.

Appends are serialised so the chain never forks, across threads and processes alike:

* PostgreSQL: ``pg_advisory_xact_lock`` on a constant key, inside the inserting transaction
  (READ COMMITTED, so the read of the last row after the lock sees every committed append);
* SQLite: ``BEGIN IMMEDIATE`` takes the database's write lock before the last row is read
  (``busy_timeout`` from :func:`gateway.db.make_engine` makes other writers wait for it).

The primary key on ``sequence`` is the backstop: a writer that skipped the lock would fail
rather than fork the chain. Writes use SQLAlchemy Core on one connection, not the ORM.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from gateway.audit.chain import GENESIS_HASH, canonical_dict, stored_row
from gateway.audit.group import GroupCommit
from gateway.audit.models import AUDIT_TABLE
from gateway.audit.record import AuditRecord
from gateway.audit.verify import VerifyResult, verify_rows
from gateway.errors import AuditUnavailable

logger = logging.getLogger(__name__)

ADVISORY_LOCK_KEY = 0x6761_7465_6175_6474
"""Arbitrary constant (``"gateaudt"`` in ASCII) that every gateway process locks to append."""

MAX_SEARCH_LIMIT = 1000

T = AUDIT_TABLE


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Where an appended record landed in the chain."""

    sequence: int
    row_hash: str


class AuditLog:
    """The tamper-evident audit trail on one SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, *, max_batch: int = 64) -> None:
        """``max_batch`` rows at most per group-committed transaction (1: one transaction per append)."""
        self._engine = engine
        self._dialect = engine.dialect.name
        self._listeners: list[Callable[[AuditEntry], None]] = []
        self.group: GroupCommit[AuditRecord, AuditEntry] = GroupCommit(self._append_batch, max_batch=max_batch)

    def add_listener(self, listener: Callable[[AuditEntry], None]) -> None:
        """Call ``listener`` after every committed append (the anchorer counts rows this way).

        A listener runs on the appending thread and must be cheap; its exceptions are logged and
        never undo or fail the append, which is already committed.
        """
        self._listeners.append(listener)

    def _notify(self, entry: AuditEntry) -> None:
        for listener in self._listeners:
            try:
                listener(entry)
            except Exception as exc:  # the row is committed; a listener must not turn that into an error
                logger.error("audit listener failed", exc_info=exc)

    def append(self, record: AuditRecord) -> AuditEntry:
        """Write ``record`` as the next row of the chain and commit it.

        Rows appended concurrently by other threads may share the transaction (group commit,
        :mod:`gateway.audit.group`); this returns only once this row is committed.

        Raises:
            AuditUnavailable: the row could not be written (the cause is logged, not exposed).
        """
        if self.group.max_batch == 1:
            with self.transaction() as tx:
                return tx.append(record)
        return self.group.submit(record)

    def _append_batch(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        with self.transaction() as tx:
            return [tx.append(r) for r in records]

    @contextmanager
    def transaction(self) -> Iterator[AuditTransaction]:
        """One transaction holding the chain's write lock, for a change and its audit row together.

        The caller runs its SQL change on ``tx.connection`` and appends the row with ``tx.append``;
        both commit when the block ends, or neither does (an exception rolls everything back). The
        lock is taken first, so keep the block short: every other append waits for it.

        Raises:
            AuditUnavailable: the lock, an append or the commit failed (the change is not applied).
        """
        try:
            conn = self._engine.connect()
            self._begin_serialised(conn)
        except SQLAlchemyError as exc:
            logger.error("audit transaction could not start", exc_info=exc)
            raise AuditUnavailable() from exc
        with conn:
            tx = AuditTransaction(conn)
            yield tx
            try:
                conn.commit()
            except SQLAlchemyError as exc:
                logger.error("audit transaction commit failed", exc_info=exc)
                raise AuditUnavailable() from exc
        for entry in tx.entries:  # only once committed: listeners (the anchorer) see real rows
            self._notify(entry)

    def _begin_serialised(self, conn: Connection) -> None:
        """Start the append transaction holding the chain's write lock."""
        if self._dialect == "sqlite":
            # pysqlite (Python < 3.12 "legacy" transaction control) begins no transaction before
            # a SELECT and only a deferred one before an INSERT; the lock must be taken before
            # the last row is read, so say BEGIN IMMEDIATE ourselves. SQLAlchemy's commit and
            # rollback then end it through the driver as usual.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif self._dialect == "postgresql":
            conn.execution_options(isolation_level="READ COMMITTED")
            conn.execute(select(func.pg_advisory_xact_lock(ADVISORY_LOCK_KEY)))

    def ping(self) -> None:
        """Check that a row *could be appended* now: insert a probe row and roll it back.

        Readiness must follow writability, not readability: a read-only database, a revoked insert
        privilege or a failing trigger all leave reads working while every answer would be a 503.
        The probe has a negative sequence (never a chain position), holds no chain lock, and is
        never committed.

        Raises:
            AuditUnavailable: the row could not be written.
        """
        probe: dict[str, Any] = {
            "sequence": -secrets.randbelow(2**62) - 1, "request_id": "readiness-probe",
            "occurred_at": datetime.now(UTC), "tenant": "-", "subject": "-", "groups": [], "policy_version": 0,
            "kind": "probe", "action": "", "status": "probe", "question": None, "answer": None, "citations": [],
            "retrieved": [], "generator": None, "guards": {}, "latencies_ms": {}, "details": {},
            "prev_hash": "", "row_hash": "",
        }  # fmt: skip
        try:
            with self._engine.connect() as conn:
                conn.execute(insert(T), probe)
                conn.rollback()
        except SQLAlchemyError as exc:
            logger.error("audit store write probe failed", exc_info=exc)
            raise AuditUnavailable() from exc

    def head(self) -> AuditEntry | None:
        """The newest row's sequence and hash (None for an empty chain).

        Raises:
            AuditUnavailable: the table could not be read.
        """
        try:
            with self._engine.connect() as conn:
                last = conn.execute(select(T.c.sequence, T.c.row_hash).order_by(T.c.sequence.desc()).limit(1)).first()
        except SQLAlchemyError as exc:
            logger.error("audit read failed", exc_info=exc)
            raise AuditUnavailable() from exc
        return None if last is None else AuditEntry(sequence=int(last[0]), row_hash=str(last[1]))

    def iter_rows(
        self,
        *,
        since: int = 0,
        until: int | None = None,
        where: Sequence[ColumnElement[bool]] = (),
        batch: int = 1000,
    ) -> Iterator[dict[str, Any]]:
        """Rows with ``since < sequence <= until`` matching ``where``, as canonical dicts, in order.

        Each batch is its own short query (keyset pagination), so no transaction or cursor is
        held open while the caller works, and memory stays bounded by ``batch``.

        Raises:
            AuditUnavailable: a batch could not be read.
        """
        after = since
        while True:
            query = select(T).where(T.c.sequence > after, *where).order_by(T.c.sequence).limit(batch)
            if until is not None:
                query = query.where(T.c.sequence <= until)
            rows = self._fetch(query)
            yield from rows
            if len(rows) < batch:
                return
            after = int(rows[-1]["sequence"])

    def sequence_range(self, start: datetime | None, end: datetime | None) -> tuple[int, int] | None:
        """The first and last sequence of the rows with ``start <= occurred_at < end`` (None if none).

        Raises:
            AuditUnavailable: the table could not be read.
        """
        query = select(func.min(T.c.sequence), func.max(T.c.sequence))
        if start is not None:
            query = query.where(T.c.occurred_at >= start)
        if end is not None:
            query = query.where(T.c.occurred_at < end)
        try:
            with self._engine.connect() as conn:
                low, high = conn.execute(query).one()
        except SQLAlchemyError as exc:
            logger.error("audit read failed", exc_info=exc)
            raise AuditUnavailable() from exc
        return None if low is None else (int(low), int(high))

    def count(self, where: Sequence[ColumnElement[bool]] = ()) -> int:
        """How many rows match ``where`` (for progress bars).

        Raises:
            AuditUnavailable: the table could not be read.
        """
        try:
            with self._engine.connect() as conn:
                return int(conn.execute(select(func.count()).select_from(T).where(*where)).scalar_one())
        except SQLAlchemyError as exc:
            logger.error("audit read failed", exc_info=exc)
            raise AuditUnavailable() from exc

    def verify(self, *, progress: Callable[[int], None] | None = None, batch: int = 1000) -> VerifyResult:
        """Walk the whole chain from sequence 1 (see :mod:`gateway.audit.verify` for what it finds).

        Raises:
            AuditUnavailable: the rows could not be read.
        """
        return verify_rows(self.iter_rows(batch=batch), progress=progress, progress_every=batch)

    def search(
        self,
        *,
        tenant: str | None = None,
        subject: str | None = None,
        kind: str | None = None,
        limit: int = 50,
        before_sequence: int | None = None,
        where: Sequence[ColumnElement[bool]] = (),
    ) -> list[dict[str, Any]]:
        """The newest rows matching every given filter, newest first, as canonical dicts.

        ``where`` adds SQL conditions (e.g. ``ExportFilter.conditions()``: status, collection).

        ``before_sequence`` pages backwards (pass the last sequence of the previous page);
        ``limit`` is clamped to 1..:data:`MAX_SEARCH_LIMIT`.
        """
        query = select(T).order_by(T.c.sequence.desc()).limit(max(1, min(limit, MAX_SEARCH_LIMIT)))
        if tenant is not None:
            query = query.where(T.c.tenant == tenant)
        if subject is not None:
            query = query.where(T.c.subject == subject)
        if kind is not None:
            query = query.where(T.c.kind == kind)
        if before_sequence is not None:
            query = query.where(T.c.sequence < before_sequence)
        for condition in where:
            query = query.where(condition)
        return self._fetch(query)

    def _fetch(self, query: Any) -> list[dict[str, Any]]:
        try:
            with self._engine.connect() as conn:
                return [canonical_dict(r) for r in conn.execute(query).mappings()]
        except SQLAlchemyError as exc:
            logger.error("audit read failed", exc_info=exc)
            raise AuditUnavailable() from exc


class AuditTransaction:
    """Appends inside one open, serialised transaction (see :meth:`AuditLog.transaction`)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        """The transaction's connection: run the change that the audit rows describe on it."""
        self.entries: list[AuditEntry] = []
        """What was appended (the audit log notifies its listeners of these after the commit)."""
        self._head: tuple[int, str] | None = None
        """The chain head as this transaction left it: the lock is held, so read it only once."""

    def append(self, record: AuditRecord) -> AuditEntry:
        """Add ``record`` as the next row of the chain (committed with the transaction).

        Raises:
            AuditUnavailable: the row could not be written; the caller's transaction is then void.
        """
        try:
            if self._head is None:
                last = self.connection.execute(
                    select(T.c.sequence, T.c.row_hash).order_by(T.c.sequence.desc()).limit(1)
                ).first()
                self._head = (int(last[0]), str(last[1])) if last else (0, GENESIS_HASH)
            sequence, prev_hash = self._head[0] + 1, self._head[1]
            row = stored_row(record, sequence=sequence, prev_hash=prev_hash)
            self.connection.execute(insert(T), row)
            self._head = (sequence, row["row_hash"])
        except SQLAlchemyError as exc:
            logger.error("audit append failed (request %s)", record.request_id, exc_info=exc)
            raise AuditUnavailable() from exc
        entry = AuditEntry(sequence=sequence, row_hash=row["row_hash"])
        self.entries.append(entry)
        return entry
