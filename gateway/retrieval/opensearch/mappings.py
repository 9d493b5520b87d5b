"""Pure builders for index bodies, alias actions and chunk documents.

The index is versioned behind an alias (``gateway-chunks`` → ``gateway-chunks-v1``): searches and
writes use the alias, ``reindex`` builds ``-v2`` and swaps the alias in one ``_aliases`` call.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from gateway.retrieval.base import Chunk
from gateway.retrieval.opensearch.queries import DEFAULT_MAX_TERMS_COUNT

Body = dict[str, Any]

SCHEMA_VERSION = 2
"""Bumped whenever the mapping below changes; ``reindex`` is how an index picks it up.
2: ``title`` and ``text`` are copied into one ``content`` field, the field BM25 scores."""

SPACE_TYPE = "innerproduct"
"""Inner product (OpenSearch 2.13+ on the Lucene engine): an indexed vector is a passage averaged
with its document's head (``gateway.retrieval.document``), norm at most 1, and its inner product
with the unit query is the mean of the two cosines -- the score the embedded engine ranks by.
Lucene maps it to ``dot + 1`` (``1 / (1 - dot)`` below 0), monotonic, and min-max normalisation in
the hybrid pipeline is unaffected."""

LEGACY_SPACE_TYPE = "cosinesimil"
"""For clusters before 2.13 (no inner product on Lucene): cosine renormalises the averaged vector,
which ranked slightly worse on the dev splits (dense MRR@10 0.758 vs 0.764) but still correctly."""

_VERSION_SUFFIX = re.compile(r"-v(\d+)$")


def index_name(alias: str, version: int) -> str:
    """The concrete index behind ``alias`` for one build: ``<alias>-v<version>``."""
    return f"{alias}-v{version}"


def tenant_alias(alias: str, tenant: str) -> str:
    """The alias of one tenant's own index: ``<alias>-t-<sha256(tenant)[:16]>``.

    Each tenant's chunks live in their own index, so BM25's statistics (document frequencies,
    average length; computed per shard, at most per index with ``dfs_query_then_fetch``) are the
    tenant's own: nothing another tenant ingests moves its scores. A hash, because tenant names
    need not be valid index names (lowercase, no ``\\/*?"<>| ,#:``).
    """
    return f"{alias}-t-{hashlib.sha256(tenant.encode('utf-8')).hexdigest()[:16]}"


def index_version(alias: str, name: str) -> int:
    """The build number of a concrete index created by :func:`index_name` (0 if foreign)."""
    match = _VERSION_SUFFIX.search(name)
    if not name.startswith(f"{alias}-v") or match is None:
        return 0
    return int(match.group(1))


def mappings_body(embedding_model: str, dimension: int, *, space_type: str = SPACE_TYPE) -> Body:
    """Field mappings; ``_meta`` records what the vectors were built with."""
    keyword = {"type": "keyword"}
    return {
        "dynamic": "strict",
        "_meta": {
            "embedding_model": embedding_model,
            "dimension": dimension,
            "schema_version": SCHEMA_VERSION,
        },
        "properties": {
            "chunk_id": keyword,
            "document_id": keyword,
            "tenant": keyword,
            "collection": keyword,
            "version": {"type": "integer"},
            "ordinal": {"type": "integer"},
            # BM25 scores the combined field (title words share the passage's statistics, as in
            # the embedded engine); ``text`` stays searchable for highlights.
            "title": {"type": "text", "analyzer": "english", "copy_to": "content"},
            "text": {"type": "text", "analyzer": "english", "copy_to": "content"},
            "content": {"type": "text", "analyzer": "english"},
            "acl_allow": keyword,
            "acl_deny": keyword,
            "labels": keyword,
            "embedding": {
                "type": "knn_vector",
                "dimension": dimension,
                "method": {
                    "name": "hnsw",
                    "engine": "lucene",
                    "space_type": space_type,
                    "parameters": {"m": 16, "ef_construction": 128},
                },
            },
        },
    }


def index_body(embedding_model: str, dimension: int, *, alias: str | None = None, space_type: str = SPACE_TYPE) -> Body:
    """``PUT /<index>`` body; with ``alias`` the alias is created atomically with the index."""
    body: Body = {
        "settings": {
            "index": {
                "knn": True,
                "number_of_shards": 1,
                "max_terms_count": DEFAULT_MAX_TERMS_COUNT,
                "refresh_interval": "1s",
            }
        },
        "mappings": mappings_body(embedding_model, dimension, space_type=space_type),
    }
    if alias is not None:
        body["aliases"] = {alias: {"is_write_index": True}}
    return body


def swap_alias_actions(alias: str, old_index: str, new_index: str) -> Body:
    """``POST /_aliases`` body moving ``alias`` from ``old_index`` to ``new_index`` atomically."""
    return {
        "actions": [
            {"remove": {"index": old_index, "alias": alias}},
            {"add": {"index": new_index, "alias": alias, "is_write_index": True}},
        ]
    }


def reindex_body(source: str, dest: str) -> Body:
    """``POST /_reindex`` body copying every document (vectors included) from ``source``."""
    return {"source": {"index": source}, "dest": {"index": dest}, "conflicts": "abort"}


def write_block_body(blocked: bool) -> Body:
    """``PUT /<index>/_settings`` body blocking (or unblocking) writes during a reindex."""
    return {"index": {"blocks": {"write": blocked}}}


def chunk_document(chunk: Chunk) -> Body:
    """The ``_source`` of one chunk."""
    doc: Body = {
        "chunk_id": chunk.chunk_id,
        "document_id": chunk.document_id,
        "tenant": chunk.tenant,
        "collection": chunk.collection,
        "version": chunk.version,
        "ordinal": chunk.ordinal,
        "title": chunk.title,
        "text": chunk.text,
        "acl_allow": list(chunk.acl_allow),
        "acl_deny": list(chunk.acl_deny),
        "labels": list(chunk.labels),
    }
    if chunk.vector is not None:
        doc["embedding"] = [float(x) for x in chunk.vector]
    return doc


def bulk_actions(alias: str, chunks: list[Chunk]) -> list[Body]:
    """``helpers.bulk`` actions indexing ``chunks`` with ``_id = chunk_id``."""
    return [{"_op_type": "index", "_index": alias, "_id": c.chunk_id, "_source": chunk_document(c)} for c in chunks]
