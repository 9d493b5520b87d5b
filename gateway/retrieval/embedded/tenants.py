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

import hashlib
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import tantivy

from gateway.retrieval.base import Chunk
from gateway.retrieval.embedded.lexical import LexicalIndex
from gateway.retrieval.embedded.locks import DirectoryLocks


def tenant_dir(root: Path, tenant: str) -> Path:
    """The directory of one tenant's index (a hash: tenant names need not be file names)."""
    return root / hashlib.sha256(tenant.encode("utf-8")).hexdigest()[:24]


class TenantIndexes:
    """The per-tenant ``LexicalIndex``es of one embedded engine (one writer each, lazily created)."""

    def __init__(self, root: Path, *, heap_bytes: int, shared: bool = False) -> None:
        self._root = root
        self._heap = heap_bytes
        self._shared = shared
        self._indexes: dict[str, LexicalIndex] = {}
        self.locks = DirectoryLocks(root)

    def lock(self) -> None:
        """Take the engine's mode lock: exclusive (one writing process, its tantivy writers kept
        open) or, for a shared engine, shared with the other workers (writers taken per write)."""
        self.locks.hold_mode(shared=self._shared)

    @property
    def tenants(self) -> list[str]:
        return sorted(self._indexes)

    def open(self, tenant: str, generation: str | None, *, writable: bool) -> bool:
        """Open the tenant's index if it reflects ``generation``; True when it must be rebuilt.

        ``generation`` None (a tenant the store has no record for) always starts empty. A shared
        engine re-opening a tenant (another process wrote to it) replaces the old object; searchers
        taken from it keep working.
        """
        self._root.mkdir(parents=True, exist_ok=True)
        index = LexicalIndex(tenant_dir(self._root, tenant), heap_bytes=self._heap)
        generation = generation if generation is not None else "\x00none"
        rebuild = index.open(generation, writable=writable, hold_writer=not self._shared)
        if rebuild and self._shared:
            index.acquire_writer()  # the rebuild writes; ``release_writers`` drops it
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
            if self._shared:
                index.acquire_writer()
            index.mark_dirty()
            try:
                index.apply(deletes.get(tenant, ()), adds.get(tenant, ()))
            except Exception:
                index.rollback()
                raise
            finally:
                if self._shared:
                    index.release_writer()
            committed.append(tenant)

    def release_writers(self) -> None:
        """A shared engine drops every writer it took (after a rebuild), before the write lock goes."""
        if self._shared:
            for index in self._indexes.values():
                index.release_writer()

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

    def close_index(self, tenant: str) -> None:
        """Forget one tenant's index object (a shared engine re-opens it to rebuild it)."""
        index = self._indexes.pop(tenant, None)
        if index is not None:
            index.close()

    def close_indexes(self) -> None:
        """Forget every index object (the locks stay held)."""
        for tenant in list(self._indexes):
            self.close_index(tenant)

    def close(self) -> None:
        self.close_indexes()
        self.locks.close()

    @staticmethod
    def remove_legacy(directory: Path) -> None:
        """Drop the single shared index of earlier versions (derived data; rebuilt per tenant)."""
        legacy = directory / "lexical"
        if legacy.is_dir():
            shutil.rmtree(legacy, ignore_errors=True)
        (directory / "lexical.generation").unlink(missing_ok=True)
