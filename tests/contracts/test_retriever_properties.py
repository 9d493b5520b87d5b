"""Properties every backend must have: the ACL predicate holds for every hit, vector search is
exact over the permitted chunks, and concurrent readers never see a half-replaced document."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.authz.filter import AclFilter
from gateway.retrieval.base import Chunk, FusionConfig, Retriever, SearchRequest
from tests.contracts.conftest import EMBEDDER, make_chunks, put

# Words no stemmer folds together, so "contains a query word" is backend-neutral.
WORDS = [
    "alpha",
    "bravo",
    "delta",
    "echo",
    "golf",
    "hotel",
    "kilo",
    "lima",
    "oscar",
    "papa",
    "sierra",
    "tango",
]
PRINCIPALS = ["user:p1", "user:p2", "group:g1", "group:g2"]
COLLECTIONS = ["a", "b", "c"]
TENANTS = ["t1", "t2"]
CANDIDATES = 50


@dataclass(frozen=True)
class Doc:
    tenant: str
    collection: str
    allow: tuple[str, ...]
    deny: tuple[str, ...]
    texts: tuple[str, ...]


def subsets(values: list[str]) -> st.SearchStrategy[frozenset[str]]:
    return st.frozensets(st.sampled_from(values))


texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(" ".join)
docs_strategy = st.lists(
    st.builds(
        Doc,
        tenant=st.sampled_from(TENANTS),
        collection=st.sampled_from(COLLECTIONS),
        allow=subsets(PRINCIPALS).map(lambda s: tuple(sorted(s))),
        deny=subsets(PRINCIPALS).map(lambda s: tuple(sorted(s))),
        texts=st.lists(texts, min_size=1, max_size=3).map(tuple),
    ),
    max_size=10,
)
filters = st.builds(
    AclFilter,
    tenant=st.sampled_from(TENANTS),
    principals=subsets(PRINCIPALS),
    allowed_collections=st.none() | subsets(COLLECTIONS),
    denied_collections=subsets(COLLECTIONS),
    deny_all=st.booleans(),
)


def ingest(retriever: Retriever, run: str, docs: list[Doc]) -> list[Chunk]:
    """Index ``docs`` under tenants prefixed with ``run`` (examples share one index, never a tenant)."""
    chunks: list[Chunk] = []
    for i, doc in enumerate(docs):
        made = make_chunks(
            f"d{i}",
            doc.texts,
            tenant=f"{run}{doc.tenant}",
            collection=doc.collection,
            acl_allow=doc.allow,
            acl_deny=doc.deny,
        )
        put(retriever, made)
        chunks += made
    return chunks


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(docs=docs_strategy, acl=filters, scope=st.none() | subsets(COLLECTIONS), query=texts)
def test_hits_are_permitted_and_vector_search_is_exact(
    retriever: Retriever, docs: list[Doc], acl: AclFilter, scope: frozenset[str] | None, query: str
) -> None:
    run = uuid.uuid4().hex[:8]
    chunks = ingest(retriever, run, docs)
    acl = AclFilter(f"{run}{acl.tenant}", acl.principals, acl.allowed_collections, acl.denied_collections, acl.deny_all)
    req = SearchRequest(
        query,
        EMBEDDER.embed([query])[0],
        acl,
        k=5,
        collections=scope,
        fusion=FusionConfig(candidates=CANDIDATES),
    )
    permitted = [
        c
        for c in chunks
        if acl.matches(c.tenant, c.collection, c.acl_allow, c.acl_deny) and (scope is None or c.collection in scope)
    ]
    permitted_ids = {c.chunk_id for c in permitted}
    for hits in (retriever.search(req), retriever.lexical_search(req), retriever.vector_search(req)):
        assert {h.chunk_id for h in hits} <= permitted_ids
        for hit in hits:
            assert acl.matches(hit.tenant, hit.collection, hit.acl_allow, hit.acl_deny)

    # Vector side: exactly the brute-force top-n over the permitted chunks (ties may swap ids).
    brute = sorted((float(np.dot(c.vector, req.vector)) for c in permitted if c.vector is not None), reverse=True)
    got = retriever.vector_search(req)
    assert len(got) == len(brute[:CANDIDATES])
    assert np.allclose([h.score for h in got], brute[:CANDIDATES], atol=1e-5)
    # Lexical side: every permitted chunk sharing a word with the query, and nothing else.
    words = set(query.split())
    expected_lexical = {c.chunk_id for c in permitted if words & set(c.text.split())}
    assert {h.chunk_id for h in retriever.lexical_search(req)} == expected_lexical


def test_concurrent_searches_never_see_a_mix_of_versions_or_nothing(retriever: Retriever) -> None:
    put(retriever, make_chunks("stable", ["bystander text about alpha"]))
    put(retriever, make_chunks("doc", [f"alpha bravo part {i}" for i in range(3)], version=0))
    acl = AclFilter("t1", frozenset({"user:x"}), None)
    req = SearchRequest("alpha bravo", EMBEDDER.embed(["alpha bravo"])[0], acl, k=20, one_per_document=False)
    stop = threading.Event()
    problems: list[str] = []
    searches = [retriever.search, retriever.lexical_search, retriever.vector_search]

    def reader(n: int) -> None:
        search = searches[n % len(searches)]
        while not stop.is_set():
            versions = [h.version for h in search(req) if h.document_id == "doc"]
            if len(versions) != 3 or len(set(versions)) != 1:
                problems.append(f"{search.__name__} saw versions {versions}")

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    try:
        for version in range(1, 41):
            texts = [f"alpha bravo part {i} revision {version}" for i in range(3)]
            put(retriever, make_chunks("doc", texts, version=version))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert problems == []
