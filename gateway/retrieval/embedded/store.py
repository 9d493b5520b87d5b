"""The chunk store: one SQLite file, the source of truth for the embedded engine.

It holds every chunk's text, metadata and vector. The tantivy index and the in-memory arrays
are derived from it and rebuilt from it. Row ids are assigned here, increase monotonically and
are never reused (a high-water mark lives in ``meta``), so a row id always names the same
immutable chunk: rows are only ever inserted, marked dead, or (on compaction) deleted.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from gateway.retrieval.base import Chunk

SEP = "\x1f"
"""Joins multi-valued fields (ACL principals, labels); refused inside a value."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    row INTEGER PRIMARY KEY,
    chunk_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    document_id TEXT NOT NULL,
    collection TEXT NOT NULL,
    version INTEGER NOT NULL,
    ordinal INTEGER NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    acl_allow TEXT NOT NULL,
    acl_deny TEXT NOT NULL,
    labels TEXT NOT NULL,
    vector BLOB NOT NULL,
    live INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS chunks_live_doc ON chunks (tenant, document_id) WHERE live = 1;
CREATE TABLE IF NOT EXISTS kills (generation INTEGER NOT NULL, row INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS kills_generation ON kills (generation);
"""
# ``kills`` records which write marked which rows dead, so another process sharing the directory
# catches up on deletes without listing every live row; a compaction (which deletes the dead rows)
# empties it and bumps ``compactions``, and a process that sees that diffs its rows against the store.

COMPACTIONS = "compactions"
"""``meta`` key: how many compactions removed dead rows (other processes then re-list live rows)."""

LEXICAL_GENERATION = "lexical:"
"""``meta`` key prefix: ``lexical:<tenant>`` is the store generation that tenant's BM25 index reflects."""

HIT_COLUMNS = "row, chunk_id, document_id, tenant, collection, version, title, text, acl_allow, acl_deny"
HitRow = tuple[int, str, str, str, str, int, str, str, str, str]


@dataclass(frozen=True, slots=True)
class LoadedRows:
    """A batch of live rows as the in-memory index needs them (no text)."""

    rows: npt.NDArray[np.int64]
    vectors: npt.NDArray[np.float32]
    tenants: list[str]
    collections: list[str]
    acl_allow: list[tuple[str, ...]]
    acl_deny: list[tuple[str, ...]]


def join_values(values: Sequence[str]) -> str:
    """Join a multi-valued field for storage; a value holding the separator is refused."""
    if any(SEP in v for v in values):
        raise ValueError("ACL principals and labels may not contain the \\x1f character")
    return SEP.join(values)


def split_values(joined: str) -> tuple[str, ...]:
    return tuple(joined.split(SEP)) if joined else ()


class ChunkStore:
    """SQLite in WAL mode: readers (one connection per thread) never block the single writer."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._local = threading.local()
        self._writer = self._connect()
        self._writer.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def reader(self) -> sqlite3.Connection:
        """This thread's read connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def close(self) -> None:
        self._writer.close()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- meta ---------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._writer.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._writer.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- writing (caller holds the engine's writer lock) ---------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; rolled back if the body raises."""
        self._writer.execute("BEGIN IMMEDIATE")
        try:
            yield self._writer
        except BaseException:
            self._writer.execute("ROLLBACK")
            raise
        self._writer.execute("COMMIT")

    def live_rows_of(self, tenant: str, document_id: str) -> list[int]:
        cur = self._writer.execute(
            "SELECT row FROM chunks WHERE tenant = ? AND document_id = ? AND live = 1", (tenant, document_id)
        )
        return [int(r[0]) for r in cur]

    def texts_of(self, tenant: str, document_id: str) -> list[str]:
        """The live chunk texts of one document, in order (for re-screening)."""
        cur = self.reader().execute(
            "SELECT text FROM chunks WHERE tenant = ? AND document_id = ? AND live = 1 ORDER BY ordinal",
            (tenant, document_id),
        )
        return [str(r[0]) for r in cur]

    def mark_dead(self, rows: Sequence[int], generation: int) -> None:
        """Mark ``rows`` dead by the write of ``generation`` (recorded for other processes)."""
        self._writer.executemany("UPDATE chunks SET live = 0 WHERE row = ?", [(r,) for r in rows])
        self._writer.executemany("INSERT INTO kills (generation, row) VALUES (?, ?)", [(generation, r) for r in rows])

    def insert(self, first_row: int, chunks: Sequence[Chunk], vectors: npt.NDArray[np.float32]) -> None:
        """Insert ``chunks`` as rows ``first_row, first_row + 1, ...``."""
        self._writer.executemany(
            "INSERT INTO chunks (row, chunk_id, tenant, document_id, collection, version, ordinal, title,"
            " text, acl_allow, acl_deny, labels, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    first_row + i,
                    c.chunk_id,
                    c.tenant,
                    c.document_id,
                    c.collection,
                    c.version,
                    c.ordinal,
                    c.title,
                    c.text,
                    join_values(c.acl_allow),
                    join_values(c.acl_deny),
                    join_values(c.labels),
                    vectors[i].tobytes(),
                )
                for i, c in enumerate(chunks)
            ],
        )

    def delete_dead(self) -> int:
        """Delete the dead rows and their kill records; count the compaction in ``meta``."""
        self._writer.execute("DELETE FROM kills")
        compactions = int(self.get_meta(COMPACTIONS) or "0") + 1
        self.set_meta(COMPACTIONS, str(compactions))
        return self._writer.execute("DELETE FROM chunks WHERE live = 0").rowcount

    def max_row(self) -> int:
        row = self._writer.execute("SELECT COALESCE(MAX(row), -1) FROM chunks").fetchone()
        return int(row[0])

    # -- reading ------------------------------------------------------------------------------

    def iter_live(self, dimension: int, batch: int = 50_000, *, from_row: int = 0) -> Iterator[LoadedRows]:
        """Every live row from ``from_row`` on, in row order, in batches, for the in-memory index."""
        cur = self.reader().execute(
            "SELECT row, tenant, collection, acl_allow, acl_deny, vector FROM chunks"
            " WHERE live = 1 AND row >= ? ORDER BY row",
            (from_row,),
        )
        while rows := cur.fetchmany(batch):
            blob = b"".join(r[5] for r in rows)
            yield LoadedRows(
                rows=np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
                vectors=np.frombuffer(blob, dtype=np.float32).reshape(len(rows), dimension),
                tenants=[r[1] for r in rows],
                collections=[r[2] for r in rows],
                acl_allow=[split_values(r[3]) for r in rows],
                acl_deny=[split_values(r[4]) for r in rows],
            )

    # -- other processes' writes (``EmbeddedRetriever(shared=True)``) ---------------------------

    def state(self) -> tuple[str, str]:
        """(generation, compactions): any write or compaction by any process changes it."""
        cur = self.reader().execute("SELECT key, value FROM meta WHERE key IN ('generation', ?)", (COMPACTIONS,))
        found = {str(k): str(v) for k, v in cur}
        return found.get("generation", "0"), found.get(COMPACTIONS, "0")

    @contextmanager
    def read_snapshot(self) -> Iterator[None]:
        """One read transaction on this thread's connection: every read inside sees one commit."""
        conn = self.reader()
        conn.execute("BEGIN")
        try:
            yield
        finally:
            conn.execute("COMMIT")

    def read_meta(self) -> dict[str, str]:
        """Every ``meta`` entry, read on this thread's connection (inside ``read_snapshot``)."""
        return {str(k): str(v) for k, v in self.reader().execute("SELECT key, value FROM meta")}

    def killed_since(self, generation: int) -> list[int]:
        """Rows marked dead by writes after ``generation``."""
        cur = self.reader().execute("SELECT row FROM kills WHERE generation > ?", (generation,))
        return [int(r[0]) for r in cur]

    def live_rows(self) -> npt.NDArray[np.int64]:
        """Every live row id, ascending (after another process compacted)."""
        cur = self.reader().execute("SELECT row FROM chunks WHERE live = 1 ORDER BY row")
        return np.fromiter((r[0] for r in cur), dtype=np.int64)

    def tenants(self) -> list[str]:
        """Tenants with live rows, plus those with a lexical generation recorded in ``meta``."""
        live = {str(r[0]) for r in self._writer.execute("SELECT DISTINCT tenant FROM chunks WHERE live = 1")}
        cur = self._writer.execute("SELECT key FROM meta WHERE key LIKE ?", (LEXICAL_GENERATION + "%",))
        recorded = {str(r[0])[len(LEXICAL_GENERATION) :] for r in cur}
        return sorted(live | recorded)

    def iter_live_for_lexical(self, tenant: str, batch: int = 10_000) -> Iterator[list[tuple[int, Chunk]]]:
        """Every live row of ``tenant`` as (row, chunk without vector), for rebuilding its BM25 index."""
        cur = self.reader().execute(
            "SELECT row, chunk_id, document_id, tenant, collection, version, ordinal, title, text,"
            " acl_allow, acl_deny FROM chunks WHERE live = 1 AND tenant = ? ORDER BY row",
            (tenant,),
        )
        while rows := cur.fetchmany(batch):
            yield [
                (
                    int(r[0]),
                    Chunk(
                        chunk_id=r[1],
                        document_id=r[2],
                        tenant=r[3],
                        collection=r[4],
                        version=r[5],
                        ordinal=r[6],
                        title=r[7],
                        text=r[8],
                        acl_allow=split_values(r[9]),
                        acl_deny=split_values(r[10]),
                    ),
                )
                for r in rows
            ]

    def fetch_hits(self, rows: Sequence[int]) -> dict[int, HitRow]:
        """The columns a ``Hit`` needs, by row id (rows deleted by compaction are absent)."""
        if not rows:
            return {}
        marks = ",".join("?" * len(rows))
        cur = self.reader().execute(f"SELECT {HIT_COLUMNS} FROM chunks WHERE row IN ({marks})", list(rows))  # noqa: S608 - only placeholders are interpolated
        return {int(r[0]): r for r in cur}

    def vectors_of(self, rows: Sequence[int], dimension: int) -> npt.NDArray[np.float32] | None:
        """The stored float32 vectors of ``rows``, in that order; None if any row is gone
        (deleted by a compaction since the caller's snapshot)."""
        if not rows:
            return np.empty((0, dimension), dtype=np.float32)
        marks = ",".join("?" * len(rows))
        cur = self.reader().execute(f"SELECT row, vector FROM chunks WHERE row IN ({marks})", list(rows))  # noqa: S608 - only placeholders are interpolated
        found = {int(r[0]): r[1] for r in cur}
        if len(found) != len(rows):
            return None
        blob = b"".join(found[r] for r in rows)
        return np.frombuffer(blob, dtype=np.float32).reshape(len(rows), dimension)

    def live_count(self) -> int:
        row = self.reader().execute("SELECT COUNT(*) FROM chunks WHERE live = 1").fetchone()
        return int(row[0])
