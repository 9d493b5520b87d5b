"""One BM25 index per tenant, so no tenant's documents move another tenant's scores.

BM25 weighs a term by its document frequency and a passage by its length relative to the
average; with one shared index those statistics are every tenant's together, and a tenant that
ingests many documents about a word lowers that word's weight for everyone -- a side channel
(issue 7, 11(b)) and a quality problem. Here each tenant has its own tantivy index under
``<root>/<sha256(tenant)[:24]>/`` with its own generation marker, opened at start, created on the
tenant's first write. Within a tenant the statistics still cover every document of the tenant,
including those a given caller may not read (docs/security-model.md says why that remains).

Each tenant's writer allocates its memory budget lazily: an idle one costs about 2.5 MB resident
(30 tenants: +76 MB, measured here), so thousands of tenants per gateway would want writers
closed when idle -- not needed at the scale this engine serves (one machine, docs/benchmarks.md).

The vector side needs nothing of the kind: a cosine depends on the two vectors only.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import tantivy

from gateway.retrieval.base import Chunk
from gateway.retrieval.embedded.lexical import IndexInUse, LexicalIndex


def tenant_dir(root: Path, tenant: str) -> Path:
    """The directory of one tenant's index (a hash: tenant names need not be file names)."""
    return root / hashlib.sha256(tenant.encode("utf-8")).hexdigest()[:24]


class TenantIndexes:
    """The per-tenant ``LexicalIndex``es of one embedded engine (one writer each, lazily created)."""

    def __init__(self, root: Path, *, heap_bytes: int) -> None:
        self._root = root
        self._heap = heap_bytes
        self._indexes: dict[str, LexicalIndex] = {}
        self._lock_file: int | None = None

    def lock(self) -> None:
        """Take the engine's writer lock (one writing process; the per-tenant writers come later)."""
        self._root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._root / ".writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise IndexInUse("the embedded index is open for writing in another process") from None
        self._lock_file = fd

    @property
    def tenants(self) -> list[str]:
        return sorted(self._indexes)

    def open(self, tenant: str, generation: str | None, *, writable: bool) -> bool:
        """Open the tenant's index if it reflects ``generation``; True when it must be rebuilt.

        ``generation`` None (a tenant the store has no record for) always starts empty.
        """
        self._root.mkdir(parents=True, exist_ok=True)
        index = LexicalIndex(tenant_dir(self._root, tenant), heap_bytes=self._heap)
        rebuild = index.open(generation if generation is not None else "\x00none", writable=writable)
        self._indexes[tenant] = index
        return rebuild

    def index(self, tenant: str) -> LexicalIndex:
        """The tenant's index, created empty on its first write."""
        if tenant not in self._indexes:
            self.open(tenant, None, writable=True)
        return self._indexes[tenant]

    def apply(
        self,
        deletes: Mapping[str, Sequence[str]],
        adds: Mapping[str, Sequence[tuple[int, Chunk]]],
        committed: list[str],
    ) -> None:
        """Delete and add per tenant, one commit per touched tenant, appending each to ``committed``.

        Each touched index is marked dirty before its commit and stays dirty until ``mark_clean``
        (after the chunk store committed), so a crash in between rebuilds exactly those tenants. A
        tenant whose apply fails is rolled back before the exception propagates.
        """
        for tenant in sorted(set(deletes) | set(adds)):
            index = self.index(tenant)
            index.mark_dirty()
            try:
                index.apply(deletes.get(tenant, ()), adds.get(tenant, ()))
            except Exception:
                index.rollback()
                raise
            committed.append(tenant)

    def mark_clean(self, tenants: Iterable[str], generation: str) -> None:
        for tenant in tenants:
            self._indexes[tenant].mark_clean(generation)

    def searchers(
        self, tenants: Iterable[str], previous: Mapping[str, tantivy.Searcher]
    ) -> dict[str, tantivy.Searcher]:
        """Searchers for every tenant: fresh ones for ``tenants``, the others kept from ``previous``."""
        fresh = set(tenants)
        return {
            t: (index.searcher() if t in fresh or t not in previous else previous[t])
            for t, index in self._indexes.items()
        }

    def close(self) -> None:
        for index in self._indexes.values():
            index.close()
        if self._lock_file is not None:
            os.close(self._lock_file)  # releases the flock
            self._lock_file = None

    @staticmethod
    def remove_legacy(directory: Path) -> None:
        """Drop the single shared index of earlier versions (derived data; rebuilt per tenant)."""
        legacy = directory / "lexical"
        if legacy.is_dir():
            shutil.rmtree(legacy, ignore_errors=True)
        (directory / "lexical.generation").unlink(missing_ok=True)
