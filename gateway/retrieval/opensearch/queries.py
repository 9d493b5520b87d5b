"""Pure builders for every OpenSearch search body the retriever sends.

Nothing here performs I/O, so the tests validate each body against the OpenSearch request
schemas (``tests/data/opensearch-spec``) and check the rules a schema cannot express.

The ACL predicate is ``gateway.authz.filter.AclFilter.matches`` compiled into query DSL::

    tenant term
    AND (collection ∈ allowed OR acl_allow ∈ principals)   -- omitted when every collection is allowed
    AND collection ∈ caller scope                          -- when the request narrows it
    AND NOT acl_deny ∈ principals
    AND NOT collection ∈ denied

It is applied *inside* every subquery (or as ``hybrid.filter`` on 3.0+), never as a
``post_filter``: a post-filter runs after top-k and would both lose permitted hits and, on a bug,
be the only thing between a caller and other tenants' text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway.authz.filter import AclFilter
from gateway.errors import InvalidRequest
from gateway.retrieval.adaptive import PHRASE_BOOST, compound_tokens
from gateway.retrieval.base import SearchRequest, Vector

Body = dict[str, Any]

DEFAULT_MAX_TERMS_COUNT = 65536
"""OpenSearch's default ``index.max_terms_count``; we also pin it in the index settings."""

SOURCE_FIELDS = (
    "chunk_id",
    "document_id",
    "tenant",
    "collection",
    "version",
    "title",
    "text",
    "acl_allow",
    "acl_deny",
)
"""Fields fetched for a ``Hit``; never the embedding (large, and useless to the caller)."""


def _terms(field: str, values: Iterable[str], max_terms: int) -> Body:
    ordered = sorted(values)
    if len(ordered) > max_terms:
        # Fail closed: truncating a principal set could drop a deny, and a terms lookup would
        # need a per-request document write. Policies this large are a modelling error.
        raise InvalidRequest(
            f"the access filter has {len(ordered)} values for {field}, more than the search "
            f"backend accepts in one query ({max_terms}); ask an administrator to use groups",
            code="acl_filter_too_large",
        )
    return {"terms": {field: ordered}}


def acl_filter_query(
    acl: AclFilter,
    scope: frozenset[str] | None = None,
    *,
    max_terms: int = DEFAULT_MAX_TERMS_COUNT,
) -> Body | None:
    """Compile ``acl`` (plus the caller's collection scope) to a ``bool`` filter.

    Returns ``None`` when nothing can match (``deny_all``, an empty scope, no grant at all):
    the caller then returns no hits without querying.
    """
    if acl.deny_all or (scope is not None and not scope):
        return None
    filters: list[Body] = [{"term": {"tenant": acl.tenant}}]
    if acl.allowed_collections is not None:
        grants: list[Body] = []
        if acl.allowed_collections:
            grants.append(_terms("collection", acl.allowed_collections, max_terms))
        if acl.principals:
            grants.append(_terms("acl_allow", acl.principals, max_terms))
        if not grants:
            return None
        filters.append({"bool": {"should": grants, "minimum_should_match": 1}})
    if scope is not None:
        filters.append(_terms("collection", scope, max_terms))
    must_not: list[Body] = []
    if acl.principals:
        must_not.append(_terms("acl_deny", acl.principals, max_terms))
    if acl.denied_collections:
        must_not.append(_terms("collection", acl.denied_collections, max_terms))
    compiled: Body = {"filter": filters}
    if must_not:
        compiled["must_not"] = must_not
    return {"bool": compiled}


def lexical_query(text: str, acl_filter: Body | None) -> Body:
    """BM25 over the combined ``content`` field (title + text) with a phrase boost; ACL in ``bool.filter``.

    One field, not a boosted title clause: a query word that hits a short, shared title must not
    outrank the passage that answers (the embedded engine does the same; see its lexical.py).
    """
    query: Body = {
        "must": [{"match": {"content": {"query": text}}}],
        "should": [
            {"match_phrase": {"content": {"query": phrase, "boost": PHRASE_BOOST}}}
            for phrase in dict.fromkeys([text, *compound_tokens(text)])
        ],
    }
    if acl_filter is not None:
        query["filter"] = [acl_filter]
    return {"bool": query}


def knn_query(vector: Vector, k: int, acl_filter: Body | None) -> Body:
    """A k-NN query; ``acl_filter`` goes inside ``knn.embedding.filter`` (efficient filtering).

    Lucene HNSW applies that filter during the graph search, so ``k`` permitted neighbours come
    back; a ``bool.filter`` around the ``knn`` would filter after the search and lose hits.
    """
    inner: Body = {"vector": [float(x) for x in vector], "k": k}
    if acl_filter is not None:
        inner["filter"] = acl_filter
    return {"knn": {"embedding": inner}}


def highlight(text: str) -> Body:
    """Up to two plain sentences of ``text`` containing a query term (no markup: callers quote them).

    ``highlight_query`` makes k-NN and hybrid hits get highlights from the query text too.
    """
    return {
        "pre_tags": [""],
        "post_tags": [""],
        "fields": {
            "text": {
                "type": "unified",
                "boundary_scanner": "sentence",
                "number_of_fragments": 2,
                "fragment_size": 240,
                "highlight_query": {"match": {"text": {"query": text}}},
            }
        },
    }


def _base(request: SearchRequest, size: int) -> Body:
    return {"size": size, "_source": {"includes": list(SOURCE_FIELDS)}, "highlight": highlight(request.text)}


def lexical_body(request: SearchRequest, acl_filter: Body, size: int) -> Body:
    """The BM25 search (client-side fusion and ``lexical_search``)."""
    return {**_base(request, size), "query": lexical_query(request.text, acl_filter)}


def knn_body(request: SearchRequest, acl_filter: Body, size: int) -> Body:
    """The vector search (client-side fusion and ``vector_search``)."""
    return {**_base(request, size), "query": knn_query(request.vector, size, acl_filter)}


def hybrid_body(
    request: SearchRequest,
    acl_filter: Body,
    size: int,
    *,
    hybrid_filter: bool,
    pagination_depth: bool,
    explain: bool = False,
) -> Body:
    """A top-level ``hybrid`` query (lexical first, k-NN second: pipeline weights follow this order).

    ``hybrid_filter`` (OpenSearch 3.0+) puts the ACL filter once on ``hybrid.filter``, which the
    cluster pushes into every subquery; otherwise each subquery carries it itself.
    """
    per_query = None if hybrid_filter else acl_filter
    hybrid: Body = {"queries": [lexical_query(request.text, per_query), knn_query(request.vector, size, per_query)]}
    if hybrid_filter:
        hybrid["filter"] = acl_filter
    if pagination_depth:
        hybrid["pagination_depth"] = size
    body: Body = {**_base(request, size), "query": {"hybrid": hybrid}}
    if explain:
        body["explain"] = True
    return body


def document_query(tenant: str, document_id: str, *, except_version: int | None = None) -> Body:
    """Every chunk of one document (optionally except one version), for ``_delete_by_query``."""
    query: Body = {"filter": [{"term": {"tenant": tenant}}, {"term": {"document_id": document_id}}]}
    if except_version is not None:
        query["must_not"] = [{"term": {"version": except_version}}]
    return {"bool": query}
