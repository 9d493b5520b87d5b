"""``EmbeddedRetriever``: hybrid, permission-filtered search on one machine, with no server.

On disk under one directory: ``chunks.sqlite3`` (the chunk store, source of truth: text,
metadata, vectors) and ``bm25/`` (one tantivy index per tenant, each rebuilt from the store when
missing, corrupt or behind). In memory: int8 vector codes and ACL postings as numpy arrays
(``vectors.py``), built from the store on open; a vector search scans the codes and re-ranks its
best candidates with their exact float32 vectors read from the store.

Consistency: one writer at a time (a lock). A write commits the store and the lexical index,
then publishes a new immutable ``_Snapshot`` (tantivy searchers + vector snapshot) by swapping
one reference. A search reads that reference once and uses only it, so it sees one version of
every document, never a mix and never none.

Several processes (``gateway serve --workers N``, ``shared=True``): each worker opens the
directory and keeps its own snapshot. Writes are serialised across processes by an exclusive
``flock`` held for one write only (``locks.py``); the writer first catches up with the others.
Before each search (or every ``poll_seconds``) a worker compares the store's ``(generation,
compactions)`` with the one its snapshot reflects -- one indexed SQLite read -- and when it moved,
catches up under the shared lock: rows appended since its high-water mark are loaded, rows
killed since its generation (the store's ``kills`` table) are dropped, touched tenants' tantivy
searchers reloaded, and after a compaction its rows are diffed against the store's live rows.
The new snapshot is published in one swap, as for a local write. So a write acknowledged by one
worker is searchable in every other worker's next search (with ``poll_seconds`` 0).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import numpy as np
import tantivy

from gateway.errors import SearchUnavailable
from gateway.retrieval.base import Chunk, Hit, IndexInfo, SearchRequest, Vector
from gateway.retrieval.embedded.highlight import highlights
from gateway.retrieval.embedded.lexical import IndexInUse, LexicalIndex, analyzer, compound_phrases, document_key
from gateway.retrieval.embedded.quantized import kernel, single_threaded
from gateway.retrieval.embedded.store import LEXICAL_GENERATION, ChunkStore, HitRow, split_values
from gateway.retrieval.embedded.tenants import TenantIndexes
from gateway.retrieval.embedded.vectors import Matrix, Rows, VectorBuilder, VectorSnapshot
from gateway.retrieval.fusion import fuse, top_k

log = logging.getLogger(__name__)
T = TypeVar("T")
_RETRIES = 3


class _StaleSnapshot(Exception):
    """A row of the snapshot was removed by compaction meanwhile; search again."""


@dataclass(frozen=True, slots=True)
class _Snapshot:
    searchers: Mapping[str, tantivy.Searcher]
    """One BM25 searcher per tenant (per-tenant statistics)."""
    vectors: VectorSnapshot


@dataclass(frozen=True, slots=True)
class _Ranked:
    rows: list[int]
    scores: list[float]


class EmbeddedRetriever:
    """The ``Retriever`` protocol over a local directory. Thread-safe: many searches, one writer.

    Extra methods beyond the protocol: ``replace_documents`` (bulk, one commit),
    ``compact``, ``count``, ``stats``.
    """

    def __init__(
        self,
        directory: Path,
        *,
        compact_dead_ratio: float = 0.3,
        gather_fraction: float = 0.3,
        rerank: int = 200,
        writer_heap_bytes: int = 64_000_000,
        read_only: bool = False,
        shared: bool = False,
        poll_seconds: float = 0.0,
    ) -> None:
        """``shared``: one of several processes on this directory (see the module docstring);
        ``poll_seconds``: how often a shared engine checks for other processes' writes (0: at
        every search, one indexed SQLite read). ``read_only`` opens without any lock."""
        self._dir = directory
        self._read_only = read_only
        self._shared = shared and not read_only
        self._poll = poll_seconds
        self._next_poll = 0.0
        self._seen = ("", "")
        self._lexical_seen: dict[str, str] = {}
        self._compact_ratio = compact_dead_ratio
        self._gather_fraction = gather_fraction
        self._rerank = rerank
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="vector-search", initializer=single_threaded)
        self._analyzer = analyzer()
        self._closed = False
        self._broken = False
        self._snapshot: _Snapshot
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._store = ChunkStore(directory / "chunks.sqlite3")
            self._lexical = TenantIndexes(directory / "bm25", heap_bytes=writer_heap_bytes, shared=self._shared)
            if not read_only:
                self._lexical.lock()
            if self._shared:
                self._open_shared()
            else:
                if not read_only:
                    TenantIndexes.remove_legacy(directory)
                self._open(writable=not read_only)
        except SearchUnavailable:
            raise
        except IndexInUse:
            if self._shared:
                raise SearchUnavailable(
                    "the embedded index is open in a single-process gateway (or gateway ingest): "
                    "stop it before serving with several workers"
                ) from None
            raise SearchUnavailable(
                "the embedded index is in use by another gateway process (it is single-writer): "
                "stop that process, or ingest through the running gateway's API"
            ) from None
        except Exception as exc:
            log.exception("embedded index at %s cannot be opened", directory)
            raise SearchUnavailable("the embedded search index cannot be opened") from exc

    # -- lifecycle ----------------------------------------------------------------------------

    def _open_shared(self) -> None:
        """Open under the shared lock; a tenant index left dirty by a dead writer needs the
        exclusive one (it is rebuilt), so that case starts again under it."""
        try:
            with self._lexical.locks.reading():
                self._open(writable=False)
        except IndexInUse:
            self._lexical.close_indexes()
            with self._lexical.locks.writing():
                self._open(writable=True)
                self._lexical.release_writers()

    def _open(self, *, writable: bool) -> None:
        self._seen = self._store.state()
        dimension = self._store.get_meta("dimension")
        self._dimension = int(dimension) if dimension else 0
        self._next_row = max(int(self._store.get_meta("next_row") or 0), self._store.max_row() + 1)
        generation = self._store.get_meta("generation") or "0"
        for tenant in self._store.tenants():
            recorded = self._store.get_meta(LEXICAL_GENERATION + tenant)
            self._lexical_seen[tenant] = recorded or ""
            if self._lexical.open(tenant, recorded, writable=writable):
                self._rebuild_lexical(tenant, generation)
        self._builder = VectorBuilder(self._dimension, self._gather_fraction, self._rerank)
        self._load_live(from_row=0)
        self._builder.shrink()  # exact-size arrays, free heap pages back (bench.scale memory)
        kernel()  # load the int8 kernel (torch) now rather than in the first search
        self._publish()

    def _rebuild_lexical(self, tenant: str, generation: str) -> str:
        log.warning("rebuilding a tenant's lexical index at %s from the chunk store", self._dir)
        index = self._lexical.index(tenant)
        for batch in self._store.iter_live_for_lexical(tenant):
            index.apply((), batch)
        index.apply((), ())
        with self._store.transaction():
            self._store.set_meta(LEXICAL_GENERATION + tenant, generation)
        index.mark_clean(generation)
        self._lexical_seen[tenant] = generation
        return generation

    def _publish(self, touched: Sequence[str] | None = None) -> None:
        """Publish a new snapshot; only the ``touched`` tenants' searchers are reloaded (None: all)."""
        previous = {} if touched is None else self._snapshot.searchers
        searchers = self._lexical.searchers(self._lexical.tenants if touched is None else touched, previous)
        self._snapshot = _Snapshot(searchers, self._builder.snapshot())

    # -- other processes' writes (shared engines) ---------------------------------------------

    def _refresh(self) -> None:
        """Catch up with other processes' writes if the store moved (shared engines only)."""
        if not self._shared:
            return
        if self._poll:
            now = time.monotonic()
            if now < self._next_poll:
                return
            self._next_poll = now + self._poll
        if self._store.state() == self._seen:
            return
        with self._lock, self._writing_or_unavailable(catch_up_only=True):
            pass

    @contextmanager
    def _writing(self, *, catch_up_only: bool = False) -> Iterator[None]:
        """Around a write (holding ``self._lock``): a shared engine takes the cross-process
        write lock and catches up first, so row ids, kills and tenants follow the others'.

        ``catch_up_only``: no write follows, so the shared lock will do -- unless a tenant index
        needs a rebuild (a writer died half-way), which only the write lock allows.
        """
        if not self._shared:
            yield
            return
        self._usable()
        if catch_up_only:
            try:
                with self._lexical.locks.reading():
                    self._catch_up(writable=False)
            except IndexInUse:
                with self._lexical.locks.writing():
                    self._catch_up(writable=True)
            yield
            return
        with self._lexical.locks.writing():
            self._catch_up(writable=True)
            yield

    def _catch_up(self, *, writable: bool) -> None:
        """Load what other processes committed since this snapshot, then publish (under a lock)."""
        try:
            with self._store.read_snapshot():
                state = self._store.state()
                if state == self._seen and not writable:
                    return
                meta = self._store.read_meta()
                changed = state != self._seen
                if not self._dimension and meta.get("dimension"):  # another process ran ensure_index
                    self._dimension = int(meta["dimension"])
                    self._builder = VectorBuilder(self._dimension, self._gather_fraction, self._rerank)
                    changed = True
                if state != self._seen:
                    self._catch_up_vectors(state, meta)
                touched = self._catch_up_lexical(meta, writable=writable)
        except IndexInUse:
            raise
        except Exception:
            self._broken = True  # memory may be half-way between two versions: restart the worker
            raise
        finally:
            self._lexical.release_writers()
        if changed or touched:
            self._publish(touched)
        # Only now: a search on another thread that finds the store at ``_seen`` skips the catch-up
        # and reads the published snapshot, so that snapshot must already hold this state (setting
        # it before the publish let concurrent searches read the old snapshot after the ack).
        self._seen = state

    def _load_live(self, *, from_row: int) -> None:
        """Append the store's live rows from ``from_row`` on to the vector builder."""
        if not self._dimension:
            return
        # Batches of 10,000: each is read as float32 and kept as int8, so the peak stays low.
        for batch in self._store.iter_live(self._dimension, batch=10_000, from_row=from_row):
            self._builder.append(
                batch.rows,
                batch.vectors,
                tenants=batch.tenants,
                collections=batch.collections,
                acl_allow=batch.acl_allow,
                acl_deny=batch.acl_deny,
            )
            del batch  # freed before the next batch is read and before shrink() trims the heap

    def _catch_up_vectors(self, state: tuple[str, str], meta: Mapping[str, str]) -> None:
        self._load_live(from_row=self._next_row)
        if state[1] != self._seen[1]:  # a compaction: the kills it removed are gone from the store
            snap = self._builder.snapshot()
            mine = snap.rows[: snap.count][snap.live[: snap.count]]
            self._builder.kill(np.setdiff1d(mine, self._store.live_rows()).tolist())
            self._builder = self._builder.compacted()
        else:
            self._builder.kill(self._store.killed_since(int(self._seen[0] or "0")))
        self._next_row = max(self._next_row, int(meta.get("next_row") or "0"))

    def _catch_up_lexical(self, meta: Mapping[str, str], *, writable: bool) -> list[str]:
        """Tenants whose BM25 index another process changed: searchers reloaded (opened if new).
        A writer also rebuilds any tenant index a dead writer left behind its store generation."""
        touched = []
        for key, value in meta.items():
            if not key.startswith(LEXICAL_GENERATION):
                continue
            tenant, recorded = key[len(LEXICAL_GENERATION) :], value
            stale = writable and tenant in self._lexical.tenants and not self._lexical.index(tenant).reflects(recorded)
            if stale:
                self._lexical.close_index(tenant)
            if tenant not in self._lexical.tenants and self._lexical.open(tenant, recorded, writable=writable):
                recorded = self._rebuild_lexical(tenant, meta.get("generation") or "0")
            if self._lexical_seen.get(tenant) != recorded or stale:
                touched.append(tenant)
            self._lexical_seen[tenant] = recorded
        return touched

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._pool.shutdown(wait=True)
            self._lexical.close()
            self._store.close()

    def ping(self) -> None:
        """Raise ``SearchUnavailable`` unless searches can be served now."""
        self._usable()
        try:
            self._store.reader().execute("SELECT 1").fetchone()
            for searcher in self._snapshot.searchers.values():
                searcher.search(tantivy.Query.empty_query(), 1, count=False)
        except Exception as exc:
            raise SearchUnavailable("the embedded search index is not usable") from exc

    def _usable(self) -> None:
        if self._closed:
            raise SearchUnavailable("the embedded search index is closed")
        if self._broken:
            raise SearchUnavailable("the embedded search index needs a restart (a write failed half-way)")

    # -- index metadata -----------------------------------------------------------------------

    def ensure_index(self, embedding_model: str, dimension: int) -> IndexInfo:
        """Record model and dimension on first use; refuse any other pair afterwards."""
        with self._lock, self._writing_or_unavailable():
            self._usable()
            model = self._store.get_meta("embedding_model")
            if model is None and self._read_only:
                raise SearchUnavailable("the embedded index is empty and was opened read-only")
            if model is None:
                with self._store.transaction():
                    self._store.set_meta("embedding_model", embedding_model)
                    self._store.set_meta("dimension", str(dimension))
                self._dimension = dimension
                self._builder = VectorBuilder(dimension, self._gather_fraction, self._rerank)
                self._publish([])
            elif model != embedding_model or self._dimension != dimension:
                raise SearchUnavailable(
                    f"the index was built with {model} ({self._dimension} dimensions), not "
                    f"{embedding_model} ({dimension}); re-index or configure the original model"
                )
            return IndexInfo(embedding_model, dimension, self._snapshot.vectors.live_count)

    def count(self) -> int:
        """Live chunks."""
        self._refresh()
        return self._snapshot.vectors.live_count

    def stats(self) -> dict[str, int]:
        """Live, dead (awaiting compaction) and total in-memory rows."""
        self._refresh()
        snap = self._snapshot.vectors
        return {"live": snap.live_count, "dead": snap.count - snap.live_count, "rows": snap.count}

    # -- writing ------------------------------------------------------------------------------

    def document_texts(self, tenant: str, document_id: str) -> list[str]:
        """The indexed chunk texts of one document (``gateway screen rescan`` re-screens them)."""
        return self._store.texts_of(tenant, document_id)

    def replace_document(self, tenant: str, document_id: str, chunks: Sequence[Chunk]) -> None:
        self.replace_documents([(tenant, document_id, chunks)])

    def delete_document(self, tenant: str, document_id: str) -> None:
        self.replace_documents([(tenant, document_id, ())])

    def replace_documents(self, items: Sequence[tuple[str, str, Sequence[Chunk]]]) -> None:
        """Replace many documents in one transaction and one commit (bulk ingest)."""
        if self._read_only:
            raise SearchUnavailable("the embedded index was opened read-only")
        chunks = [c for _, _, doc_chunks in items for c in doc_chunks]
        for tenant, document_id, doc_chunks in items:
            if any(c.tenant != tenant or c.document_id != document_id for c in doc_chunks):
                raise ValueError("every chunk must belong to the document being replaced")
        with self._lock, self._writing_or_unavailable():
            self._usable()
            if not self._dimension:
                raise SearchUnavailable("the embedded index is not initialised (ensure_index first)")
            vectors = self._vectors_of(chunks)
            self._write(items, chunks, vectors)
            if self._builder.dead > self._compact_ratio * max(1, self._builder.count):
                self._compact_locked()

    @contextmanager
    def _writing_or_unavailable(self, *, catch_up_only: bool = False) -> Iterator[None]:
        try:
            with self._writing(catch_up_only=catch_up_only):
                yield
        except IndexInUse:
            raise SearchUnavailable("the embedded index is busy: another gateway worker holds its write lock") from None

    def _vectors_of(self, chunks: Sequence[Chunk]) -> Vector:
        out = np.empty((len(chunks), self._dimension), dtype=np.float32)
        for i, chunk in enumerate(chunks):
            if chunk.vector is None or chunk.vector.shape != (self._dimension,):
                raise ValueError(f"chunk {chunk.chunk_id} needs a {self._dimension}-dimensional vector")
            out[i] = chunk.vector
        # Norm at most 1, not exactly 1: an indexed vector may be a passage averaged with its
        # document's head (retrieval/document.py), whose dot product with the unit query is the
        # mean of the two cosines. Only a vector longer than 1 (an embedder that does not
        # normalise) is scaled down.
        norms = np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1.0)
        result: Vector = out / norms
        return result

    def _write(self, items: Sequence[tuple[str, str, Sequence[Chunk]]], chunks: list[Chunk], vectors: Vector) -> None:
        first = self._next_row
        rows = np.arange(first, first + len(chunks), dtype=np.int64)
        generation = str(int(self._store.get_meta("generation") or "0") + 1)
        deletes, adds = _by_tenant(items, rows.tolist(), chunks)
        touched = sorted(set(deletes) | set(adds))
        committed: list[str] = []
        try:
            with self._store.transaction():
                dead = [r for tenant, doc, _ in items for r in self._store.live_rows_of(tenant, doc)]
                self._store.mark_dead(dead, int(generation))
                self._store.insert(first, chunks, vectors)
                self._store.set_meta("next_row", str(first + len(chunks)))
                self._store.set_meta("generation", generation)
                for tenant in touched:
                    self._store.set_meta(LEXICAL_GENERATION + tenant, generation)
                self._lexical.apply(deletes, adds, committed)
        except Exception as exc:
            self._after_failed_write(generation, touched, committed)
            log.exception("embedded index write failed")
            raise SearchUnavailable("the embedded search index could not be written") from exc
        self._next_row = first + len(chunks)
        self._lexical_seen.update(dict.fromkeys(touched, generation))
        try:
            self._lexical.mark_clean(touched, generation)
            self._builder.kill(dead)
            self._builder.append(
                rows,
                vectors,
                tenants=[c.tenant for c in chunks],
                collections=[c.collection for c in chunks],
                acl_allow=[c.acl_allow for c in chunks],
                acl_deny=[c.acl_deny for c in chunks],
            )
            self._publish(touched)
            self._seen = (generation, self._seen[1])  # after the publish, as in _catch_up
        except Exception as exc:
            # Both stores committed but memory did not follow: stop serving until a restart reloads.
            self._broken = True
            log.exception("embedded index in-memory update failed")
            raise SearchUnavailable("the embedded search index needs a restart") from exc

    def _after_failed_write(self, generation: str, touched: Sequence[str], committed: Sequence[str]) -> None:
        """Nothing committed anywhere: keep serving. Store and a tenant index apart: stop serving.

        A tenant index that committed while the store rolled back (or a store COMMIT that failed
        after the indexes committed) keeps its dirty marker, and the restart rebuilds it.
        """
        if committed or self._store.get_meta("generation") == generation:
            self._broken = True
            return
        for tenant in touched:
            if tenant in self._lexical.tenants:
                self._lexical.mark_clean([tenant], self._store.get_meta(LEXICAL_GENERATION + tenant) or "")

    def compact(self) -> None:
        """Drop dead rows from memory and from the chunk store (tantivy merges on its own)."""
        with self._lock, self._writing_or_unavailable():
            self._usable()
            self._compact_locked()

    def _compact_locked(self) -> None:
        self._builder = self._builder.compacted()
        self._publish([])
        # Searches still holding the old snapshot may look these rows up: they retry (see _fetch).
        with self._store.transaction():
            self._store.delete_dead()
        self._seen = self._store.state()

    # -- searching ----------------------------------------------------------------------------

    def search(self, request: SearchRequest) -> list[Hit]:
        """RRF or weighted fusion of the filtered BM25 and vector candidates, then top-k."""

        def run(snap: _Snapshot) -> list[Hit]:
            n = max(request.k, request.fusion.candidates)
            # The vector side runs beside BM25: numpy's matmul and tantivy's search both release
            # the GIL, so a hybrid search costs about the slower side, not the sum (bench.scale).
            vector_ranked = self._pool.submit(self._vector_ranked, snap, request, n)
            lexical = self._hits(self._lexical_ranked(snap, request, n), "lexical")
            vector = self._hits(vector_ranked.result(), "vector")
            per_document = request.one_per_document
            fused = top_k(
                fuse(lexical, vector, request.fusion, per_document=per_document),
                request.k,
                one_per_document=per_document,
            )
            return self._finish(fused, request)

        return self._guarded(run, request)

    def lexical_search(self, request: SearchRequest) -> list[Hit]:
        """The filtered BM25 candidate list ``search`` fuses: top ``max(k, fusion.candidates)`` chunks."""

        def run(snap: _Snapshot) -> list[Hit]:
            ranked = self._lexical_ranked(snap, request, max(request.k, request.fusion.candidates))
            return self._finish(self._hits(ranked, "lexical"), request)

        return self._guarded(run, request)

    def vector_search(self, request: SearchRequest) -> list[Hit]:
        """The filtered cosine candidate list ``search`` fuses (same size as ``lexical_search``):
        int8 scan, exact float32 re-rank, on the same worker threads as ``search``."""

        def run(snap: _Snapshot) -> list[Hit]:
            n = max(request.k, request.fusion.candidates)
            ranked = self._pool.submit(self._vector_ranked, snap, request, n).result()
            return self._finish(self._hits(ranked, "vector"), request)

        return self._guarded(run, request)

    def _guarded(self, run: Callable[[_Snapshot], T], request: SearchRequest) -> T:
        """Run a search on a consistent snapshot; any failure is ``SearchUnavailable``, never partial."""
        self._usable()
        try:
            self._refresh()
            for _ in range(_RETRIES):
                try:
                    return run(self._snapshot)
                except _StaleSnapshot:
                    continue
            raise RuntimeError("the index kept changing under the search")
        except SearchUnavailable:
            raise
        except Exception as exc:
            log.exception("embedded search failed")
            raise SearchUnavailable("the embedded search failed") from exc

    def _lexical_ranked(self, snap: _Snapshot, request: SearchRequest, n: int) -> _Ranked:
        searcher = snap.searchers.get(request.acl.tenant)
        if searcher is None:  # the tenant has never written anything
            return _Ranked([], [])
        acl = LexicalIndex.acl_query(request.acl, request.collections)
        phrases = compound_phrases(request.text, self._analyzer.analyze)
        text = LexicalIndex.text_query(self._terms(request.text), phrases)
        if acl is None or text is None:
            return _Ranked([], [])
        found = LexicalIndex.search(searcher, text, acl, n)
        return _Ranked([r for r, _ in found], [s for _, s in found])

    def _vector_ranked(self, snap: _Snapshot, request: SearchRequest, n: int) -> _Ranked:
        vectors = snap.vectors
        if vectors.count == 0:
            return _Ranked([], [])
        query = np.asarray(request.vector, dtype=np.float32).reshape(-1)
        if query.shape != (vectors.dimension,):
            raise ValueError(f"query vector has {query.size} dimensions, the index {vectors.dimension}")
        norm = float(np.linalg.norm(query))
        query = query / norm if norm else query
        visible = vectors.visible(request.acl, request.collections)
        positions, scores = vectors.top(query, visible, n, lambda rows: self._exact(rows, vectors.dimension))
        return _Ranked(vectors.rows[positions].tolist(), scores.tolist())

    def _exact(self, rows: Rows, dimension: int) -> Matrix:
        """The float32 vectors of the re-ranked candidates, from the store (never held in memory)."""
        found = self._store.vectors_of(rows.tolist(), dimension)
        if found is None:  # a compaction deleted a row of this snapshot meanwhile
            raise _StaleSnapshot
        return found

    def _hits(self, ranked: _Ranked, side: str) -> list[Hit]:
        found = self._store.fetch_hits(ranked.rows)
        if len(found) != len(ranked.rows):
            raise _StaleSnapshot
        return [
            _hit(found[row], score, rank, side)
            for rank, (row, score) in enumerate(zip(ranked.rows, ranked.scores, strict=True), 1)
        ]

    def _terms(self, text: str) -> list[str]:
        return list(dict.fromkeys(self._analyzer.analyze(text)))

    def _finish(self, hits: list[Hit], request: SearchRequest) -> list[Hit]:
        """Add highlights. The re-check of every hit (filter, registry, policy) is the pipeline's,
        the same for every backend (``gateway.retrieval.recheck``)."""
        terms = frozenset(self._terms(request.text))
        return [_with_highlights(hit, highlights(hit.text, terms, self._analyzer)) for hit in hits]


def _by_tenant(
    items: Sequence[tuple[str, str, Sequence[Chunk]]], rows: list[int], chunks: list[Chunk]
) -> tuple[dict[str, list[str]], dict[str, list[tuple[int, Chunk]]]]:
    """Document keys to delete and (row, chunk) pairs to add, grouped by tenant."""
    deletes: dict[str, list[str]] = {}
    adds: dict[str, list[tuple[int, Chunk]]] = {}
    for tenant, document_id, _ in items:
        deletes.setdefault(tenant, []).append(document_key(tenant, document_id))
    for row, chunk in zip(rows, chunks, strict=True):
        adds.setdefault(chunk.tenant, []).append((row, chunk))
    return deletes, adds


def _hit(row: HitRow, score: float, rank: int, side: str) -> Hit:
    _, chunk_id, document_id, tenant, collection, version, title, text, allow, deny = row
    return Hit(
        chunk_id=chunk_id,
        document_id=document_id,
        tenant=tenant,
        collection=collection,
        version=version,
        title=title,
        text=text,
        score=score,
        acl_allow=split_values(allow),
        acl_deny=split_values(deny),
        lexical_rank=rank if side == "lexical" else None,
        vector_rank=rank if side == "vector" else None,
    )


def _with_highlights(hit: Hit, found: tuple[str, ...]) -> Hit:
    return replace(hit, highlights=found) if found else hit
