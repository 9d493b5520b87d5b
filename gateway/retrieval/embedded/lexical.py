"""BM25 over chunk text with tantivy; the ACL filter is a zero-score boolean clause inside the query.

One ``LexicalIndex`` holds one tenant's chunks (``tenants.TenantIndexes`` keeps one per tenant),
so BM25's statistics -- document frequencies and the average length -- are the tenant's own and
nothing another tenant ingests moves a score (docs/security-model.md, "Scores and statistics").

Title and text are indexed as **one combined field** (``content`` = title, then text), scored by
plain BM25 (k1 = 1.2, b = 0.75): a title word counts like a word of the passage and shares its
statistics. A separately boosted title clause let any query word that hit a short, shared title
("FAQ", "HOWTO", the product name) outrank the passage that answers (bench/quality.py: BM25-only
MRR@10 on FAQ text 0.125 with a title clause at boost 2; the combined field is within 0.02 of a
textbook Okapi BM25 on every corpus of the suite). Counting the title twice (BM25F weight 2)
gained 0.003-0.009 on the dev splits: not worth a second mechanism.

The index stores nothing but terms and a fast ``row`` field (the chunk store's row id); text and
metadata come from the chunk store. A marker file beside the index records the store generation
the index reflects; on open, any other value (a crash between the two commits) means rebuild.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import tantivy

from gateway.authz.filter import AclFilter
from gateway.retrieval.adaptive import PHRASE_BOOST, compound_tokens
from gateway.retrieval.base import Chunk

MAX_QUERY_TERMS = 64
KEY_SEP = "\x1f"

_Occur = tantivy.Occur
_Query = tantivy.Query


def compound_phrases(text: str, analyze: Callable[[str], list[str]]) -> list[list[str]]:
    """Analysed parts of each compound token of ``text`` that has at least two parts."""
    out: list[list[str]] = []
    for token in compound_tokens(text):
        parts = analyze(token)
        if len(parts) >= 2 and parts not in out:
            out.append(parts)
    return out


def analyzer() -> tantivy.TextAnalyzer:
    """The analyzer of the text fields (tantivy's built-in ``en_stem``), for queries and highlights."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("content", tokenizer_name="en_stem")
    for keyword in ("tenant", "collection", "acl_allow", "acl_deny", "doc_key"):
        builder.add_text_field(keyword, tokenizer_name="raw", index_option="basic")
    builder.add_integer_field("row", fast=True)
    return builder.build()


SCHEMA = _schema()
"""Every tenant's index has this schema; queries are built against it."""


def document_key(tenant: str, document_id: str) -> str:
    return f"{tenant}{KEY_SEP}{document_id}"


class IndexInUse(Exception):
    """Another process holds the index's writer lock (the embedded engine is single-writer)."""


def combined_text(title: str, text: str) -> str:
    """The ``content`` field of a chunk: its title, then its text (one BM25 field)."""
    return f"{title}\n\n{text}" if title else text


class LexicalIndex:
    """One tantivy index with one long-lived writer; readers take ``searcher()`` snapshots."""

    def __init__(self, path: Path, *, heap_bytes: int = 64_000_000) -> None:
        self._path = path
        self._marker = path.with_name(path.name + ".generation")
        self._heap = heap_bytes
        self.schema = SCHEMA
        self._index: tantivy.Index | None = None
        self._writer: tantivy.IndexWriter | None = None

    def open(self, generation: str, *, writable: bool = True, hold_writer: bool = True) -> bool:
        """Open the index if it reflects ``generation``; else start empty. True if it must be rebuilt.

        Read-only opens (``gateway doctor`` beside a running gateway, or a shared engine catching
        up under the read lock) take no writer lock and refuse an index that would need a
        rebuild. ``hold_writer`` False (a shared engine): the writer is taken for each write only
        (``acquire_writer``/``release_writer``), under the engine's cross-process write lock.
        """
        fresh = True
        if self._read_marker() == generation and self._path.is_dir():
            try:
                self._index = tantivy.Index.open(str(self._path))
                self._index.searcher().search(tantivy.Query.all_query(), 1, count=False)
                fresh = False
            except Exception:  # a corrupt index is rebuilt from the chunk store
                self._index = None
        if self._index is None and not writable:
            raise IndexInUse("the lexical index needs a rebuild; open it writable (no other gateway running)")
        if self._index is None:
            shutil.rmtree(self._path, ignore_errors=True)
            self._path.mkdir(parents=True)
            self._write_marker("rebuilding")
            self._index = tantivy.Index(self.schema, path=str(self._path), reuse=False)
        self._index.config_reader("manual")
        if writable and hold_writer:
            self._writer = self._take_writer(self._index)
        return fresh

    def _take_writer(self, index: tantivy.Index) -> tantivy.IndexWriter:
        try:
            return index.writer(self._heap, 1)
        except ValueError as exc:  # tantivy reports a held lock file as ValueError("... LockBusy ...")
            if "LockBusy" in str(exc):
                raise IndexInUse("the embedded index is open for writing in another process") from None
            raise

    def acquire_writer(self) -> None:
        """Take a writer for one write (shared engines; the caller holds the cross-process lock).

        The index is re-opened first: tantivy keeps the list of files it manages per ``Index``
        object, and a fresh one reads the list the last writer (maybe another process) left, so
        files that process created are garbage-collected here too.
        """
        if self._writer is None:
            self._index = tantivy.Index.open(str(self._path))
            self._index.config_reader("manual")
            self._writer = self._take_writer(self._index)

    def release_writer(self) -> None:
        """Let merges finish and drop the writer (and tantivy's lock), before the write lock goes:
        a merge still running would publish segments while another process writes."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.wait_merging_threads()

    def _read_marker(self) -> str | None:
        try:
            return self._marker.read_text(encoding="utf-8")
        except OSError:
            return None

    def _write_marker(self, value: str) -> None:
        with open(self._marker, "w", encoding="utf-8") as fh:
            fh.write(value)
            fh.flush()
            os.fsync(fh.fileno())

    def reflects(self, generation: str) -> bool:
        """Whether the marker says this index reflects the store's ``generation`` for its tenant."""
        return self._read_marker() == generation

    def mark_dirty(self) -> None:
        """Before a commit that the chunk store has not committed yet."""
        self._write_marker("dirty")

    def mark_clean(self, generation: str) -> None:
        self._write_marker(generation)

    def apply(self, delete_keys: Iterable[str], adds: Sequence[tuple[int, Chunk]]) -> None:
        """Delete documents by key and add chunks, in one commit."""
        writer = self._require_writer()
        for key in delete_keys:
            writer.delete_documents_by_term("doc_key", key)
        for row, chunk in adds:
            writer.add_document(self._document(row, chunk))
        writer.commit()

    def rollback(self) -> None:
        self._require_writer().rollback()

    def searcher(self) -> tantivy.Searcher:
        """A searcher over the last commit; it keeps seeing that commit whatever follows."""
        if self._index is None:
            raise RuntimeError("lexical index is closed")
        self._index.reload()
        return self._index.searcher()

    def close(self) -> None:
        writer, self._writer, self._index = self._writer, None, None
        if writer is not None:
            writer.wait_merging_threads()

    def _require_writer(self) -> tantivy.IndexWriter:
        if self._writer is None:
            raise RuntimeError("lexical index is closed or read-only")
        return self._writer

    @staticmethod
    def _document(row: int, chunk: Chunk) -> tantivy.Document:
        doc = tantivy.Document()
        doc.add_text("content", combined_text(chunk.title, chunk.text))
        doc.add_text("tenant", chunk.tenant)
        doc.add_text("collection", chunk.collection)
        doc.add_text("doc_key", document_key(chunk.tenant, chunk.document_id))
        for principal in chunk.acl_allow:
            doc.add_text("acl_allow", principal)
        for principal in chunk.acl_deny:
            doc.add_text("acl_deny", principal)
        doc.add_integer("row", row)
        return doc

    # -- querying -----------------------------------------------------------------------------

    @staticmethod
    def acl_query(acl: AclFilter, scope: frozenset[str] | None) -> tantivy.Query | None:
        """``AclFilter.matches`` plus the caller's scope as a boolean query; None when nothing passes."""
        if acl.deny_all or (scope is not None and not scope):
            return None
        s = SCHEMA
        principals = sorted(acl.principals)
        clauses = [(_Occur.Must, _Query.term_query(s, "tenant", acl.tenant))]
        if acl.allowed_collections is not None:
            access = []
            if acl.allowed_collections:
                access.append((_Occur.Should, _Query.term_set_query(s, "collection", sorted(acl.allowed_collections))))
            if principals:
                access.append((_Occur.Should, _Query.term_set_query(s, "acl_allow", principals)))
            if not access:
                return None
            clauses.append((_Occur.Must, _Query.boolean_query(access)))
        if principals:
            clauses.append((_Occur.MustNot, _Query.term_set_query(s, "acl_deny", principals)))
        if acl.denied_collections:
            denied = sorted(acl.denied_collections)
            clauses.append((_Occur.MustNot, _Query.term_set_query(s, "collection", denied)))
        if scope is not None:
            clauses.append((_Occur.Must, _Query.term_set_query(s, "collection", sorted(scope))))
        return _Query.boolean_query(clauses)

    @staticmethod
    def text_query(terms: Sequence[str], phrases: Sequence[Sequence[str]] = ()) -> tantivy.Query | None:
        """Any analysed term in the combined title-and-text field (BM25); None for no terms.

        ``phrases`` are the analysed parts of compound tokens (``--preserve-root``, ``EPOLL_CTL_ADD``):
        the tokenizer splits them into common words, so the parts in sequence get a boosted phrase
        clause that rewards the exact identifier.
        """
        if not terms:
            return None
        s = SCHEMA
        should: list[tuple[tantivy.Occur, tantivy.Query]] = []
        for term in terms[:MAX_QUERY_TERMS]:
            should.append((_Occur.Should, _Query.term_query(s, "content", term)))
        for parts in phrases[:MAX_QUERY_TERMS]:
            phrase = _Query.phrase_query(s, "content", list(parts))
            should.append((_Occur.Should, _Query.boost_query(phrase, PHRASE_BOOST)))
        return _Query.boolean_query(should)

    @staticmethod
    def search(
        searcher: tantivy.Searcher, text: tantivy.Query, acl: tantivy.Query, limit: int
    ) -> list[tuple[int, float]]:
        """(row, BM25 score) best first; the filter is a Must clause boosted to zero."""
        query = _Query.boolean_query([(_Occur.Must, text), (_Occur.Must, _Query.boost_query(acl, 0.0))])
        hits = searcher.search(query, limit, count=False).hits
        if not hits:
            return []
        rows = searcher.fast_field_values("row", [address for _, address in hits])
        found = [(int(row), float(score)) for (score, _), row in zip(hits, rows, strict=True) if row is not None]
        # Equal scores are ordered by row (ingest order), not by the segment layout of the moment;
        # "equal" to 1e-6, as float32 BM25 sums may differ in the last bits between segments.
        return sorted(found, key=lambda pair: (-round(pair[1], 6), pair[0]))
