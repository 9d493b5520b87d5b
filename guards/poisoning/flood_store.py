"""Where the flood detector remembers recent documents: a protocol and two implementations.

A flood is a property of many requests, possibly served by many processes, so the memory lives
outside the detector: :class:`SqlFloodStore` (SQLAlchemy Core; SQLite or PostgreSQL, shared by
every gateway process) or :class:`MemoryFloodStore` (one process: tests, the benchmark, the CLI).
Rows hold LSH band hashes and MinHash signatures only, never text.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Column, Float, Index, LargeBinary, MetaData, String, Table, delete, insert, select
from sqlalchemy.engine import Engine


@dataclass(frozen=True, slots=True)
class Remembered:
    key: str
    signature: bytes
    at: float


class FloodStore(Protocol):
    """Recent documents per source, found by shared LSH bands."""

    def candidates(self, source: str, bands: Sequence[str], since: float) -> list[Remembered]:
        """Documents of ``source`` seen at or after ``since`` that share at least one band."""
        ...

    def add(self, source: str, key: str, bands: Sequence[str], signature: bytes, at: float) -> None:
        """Remember a document (replacing an earlier entry with the same key)."""
        ...

    def prune(self, before: float) -> int:
        """Forget everything older than ``before``; returns how many documents were forgotten."""
        ...


class MemoryFloodStore:
    """A process-local store (thread-safe)."""

    def __init__(self) -> None:
        self._docs: dict[tuple[str, str], tuple[Remembered, tuple[str, ...]]] = {}
        self._bands: dict[tuple[str, str], set[str]] = {}
        self._lock = threading.Lock()

    def candidates(self, source: str, bands: Sequence[str], since: float) -> list[Remembered]:
        with self._lock:
            keys = set().union(*(self._bands.get((source, b), set()) for b in bands)) if bands else set()
            found = (self._docs[(source, k)][0] for k in keys if (source, k) in self._docs)
            return [r for r in found if r.at >= since]

    def add(self, source: str, key: str, bands: Sequence[str], signature: bytes, at: float) -> None:
        with self._lock:
            self._forget(source, key)
            self._docs[(source, key)] = (Remembered(key, signature, at), tuple(bands))
            for band in bands:
                self._bands.setdefault((source, band), set()).add(key)

    def prune(self, before: float) -> int:
        with self._lock:
            old = [(s, k) for (s, k), (r, _) in self._docs.items() if r.at < before]
            for source, key in old:
                self._forget(source, key)
            return len(old)

    def _forget(self, source: str, key: str) -> None:
        entry = self._docs.pop((source, key), None)
        for band in entry[1] if entry else ():
            self._bands.get((source, band), set()).discard(key)


metadata = MetaData()
flood_documents = Table(
    "poisoning_flood_documents",
    metadata,
    Column("source", String(255), primary_key=True),
    Column("doc_key", String(512), primary_key=True),
    Column("at", Float, nullable=False, index=True),
    Column("signature", LargeBinary, nullable=False),
)
flood_bands = Table(
    "poisoning_flood_bands",
    metadata,
    Column("source", String(255), nullable=False),
    Column("band", String(40), nullable=False),
    Column("doc_key", String(512), nullable=False),
    Index("ix_poisoning_flood_bands_lookup", "source", "band"),
)


class SqlFloodStore:
    """The store in SQL, shared by every process on the same database (tables created by migration)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def candidates(self, source: str, bands: Sequence[str], since: float) -> list[Remembered]:
        if not bands:
            return []
        keys = select(flood_bands.c.doc_key).where(flood_bands.c.source == source, flood_bands.c.band.in_(bands))
        query = select(flood_documents).where(
            flood_documents.c.source == source, flood_documents.c.at >= since, flood_documents.c.doc_key.in_(keys)
        )
        with self.engine.connect() as conn:
            return [Remembered(r.doc_key, bytes(r.signature), r.at) for r in conn.execute(query)]

    def add(self, source: str, key: str, bands: Sequence[str], signature: bytes, at: float) -> None:
        with self.engine.begin() as conn:
            self._forget(conn, source, key)
            conn.execute(insert(flood_documents).values(source=source, doc_key=key, at=at, signature=signature))
            conn.execute(insert(flood_bands), [{"source": source, "band": b, "doc_key": key} for b in bands])

    def prune(self, before: float) -> int:
        with self.engine.begin() as conn:
            old = conn.execute(
                select(flood_documents.c.source, flood_documents.c.doc_key).where(flood_documents.c.at < before)
            ).all()
            for source, key in old:
                self._forget(conn, source, key)
            return len(old)

    @staticmethod
    def _forget(conn: object, source: str, key: str) -> None:
        execute = conn.execute  # type: ignore[attr-defined]
        execute(delete(flood_bands).where(flood_bands.c.source == source, flood_bands.c.doc_key == key))
        execute(delete(flood_documents).where(flood_documents.c.source == source, flood_documents.c.doc_key == key))
