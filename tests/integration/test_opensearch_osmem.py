"""The OpenSearch backend over real HTTP against osmem-server (an in-memory OpenSearch peer).

osmem runs mappings (``knn_vector`` included), bulk, delete-by-query, reindex, aliases and BM25
with ``bool.filter`` ACL filters, but refuses ``knn``, ``hybrid`` and search pipelines with 400.
So these tests drive the product's own lexical path (``lexical_search``, the lexical half of
client-side fusion) and the write path; the k-NN and hybrid bodies are checked offline against the
OpenSearch schemas (tests/unit/test_opensearch_*.py) and live with ``GATEWAY_OPENSEARCH_URL``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opensearchpy import OpenSearch
from osmem_server import OsmemServer

from gateway.authz.filter import AclFilter
from gateway.errors import InvalidRequest, SearchUnavailable
from gateway.retrieval.base import Chunk, SearchRequest
from gateway.retrieval.opensearch import OpenSearchRetriever
from gateway.settings import OpenSearchSettings, SearchSettings

ALIAS = "gw-chunks"
DIM = 4
MODEL = "test-embedder"


def make(url: str) -> OpenSearchRetriever:
    return OpenSearchRetriever(
        OpenSearchSettings(url=url, index_alias=ALIAS, max_retries=0),
        SearchSettings(),
        client=OpenSearch(hosts=[url], timeout=10),
        sleep=lambda _: None,
    )


@pytest.fixture
def retriever(osmem_url: str) -> Iterator[OpenSearchRetriever]:
    r = make(osmem_url)
    r.ensure_index(MODEL, DIM)
    yield r
    r.close()


def chunk(cid: str, doc: str, *, version: int = 1, text: str = "holiday policy", **kw: Any) -> Chunk:
    fields: dict[str, Any] = {"tenant": "acme", "collection": "handbook", "ordinal": 0, "title": "Handbook"}
    fields.update(kw)
    return Chunk(cid, doc, version=version, text=text, vector=np.full(DIM, 0.5, np.float32), **fields)


def ask(acl: AclFilter, text: str = "holiday", **kw: Any) -> SearchRequest:
    return SearchRequest(text, np.full(DIM, 0.5, np.float32), acl, k=50, one_per_document=False, **kw)


def ids(hits: list[Any]) -> set[str]:
    return {h.chunk_id for h in hits}


ANN = AclFilter("acme", frozenset({"user:ann", "group:eng"}), frozenset({"handbook"}))

# -- index creation ------------------------------------------------------------------------------


def test_index_is_created_behind_the_alias_with_the_real_mapping(retriever: OpenSearchRetriever, osmem_url: str):
    client = OpenSearch(hosts=[osmem_url])
    assert client.indices.get_alias(name=ALIAS) == {f"{ALIAS}-v1": {"aliases": {ALIAS: {"is_write_index": True}}}}
    mapping = client.indices.get_mapping(index=ALIAS)[f"{ALIAS}-v1"]["mappings"]
    assert mapping["_meta"]["embedding_model"] == MODEL and mapping["_meta"]["dimension"] == DIM
    embedding = mapping["properties"]["embedding"]
    assert (embedding["type"], embedding["dimension"], embedding["method"]["space_type"]) == (
        "knn_vector",
        DIM,
        "innerproduct",  # osmem reports 3.x: inner product (passage + document head, see retrieval/document.py)
    )
    assert client.indices.get_settings(index=ALIAS)[f"{ALIAS}-v1"]["settings"]["index"]["knn"] == "true"


def test_ensure_index_is_idempotent_and_refuses_another_embedder(retriever: OpenSearchRetriever):
    retriever.replace_document("acme", "d1", [chunk("c1", "d1")])
    assert retriever.ensure_index(MODEL, DIM).chunk_count == 1
    with pytest.raises(SearchUnavailable, match=MODEL):
        retriever.ensure_index("other-model", DIM)
    with pytest.raises(SearchUnavailable):
        retriever.ensure_index(MODEL, DIM * 2)


def test_strict_mapping_rejects_unknown_fields(osmem_url: str, retriever: OpenSearchRetriever):
    with pytest.raises(Exception, match="strict"):
        OpenSearch(hosts=[osmem_url]).index(index=ALIAS, body={"surprise": 1}, refresh=True)


# -- writes --------------------------------------------------------------------------------------


def test_replace_document_leaves_only_the_new_version(retriever: OpenSearchRetriever):
    retriever.replace_document("acme", "d1", [chunk("c1", "d1"), chunk("c2", "d1"), chunk("c3", "d1")])
    assert ids(retriever.lexical_search(ask(ANN))) == {"c1", "c2", "c3"}
    new = [chunk("c1", "d1", version=2), chunk("c4", "d1", version=2, text="holiday rules revised")]
    retriever.replace_document("acme", "d1", new)
    hits = retriever.lexical_search(ask(ANN))
    assert ids(hits) == {"c1", "c4"}
    assert {h.version for h in hits} == {2}


def test_replace_touches_no_other_document_or_tenant(retriever: OpenSearchRetriever):
    retriever.replace_document("acme", "d1", [chunk("c1", "d1")])
    retriever.replace_document("acme", "d2", [chunk("c2", "d2")])
    retriever.replace_document("beta", "d1", [chunk("b1", "d1", tenant="beta")])
    retriever.replace_document("acme", "d1", [chunk("c1b", "d1", version=2)])
    assert ids(retriever.lexical_search(ask(ANN))) == {"c1b", "c2"}
    beta = AclFilter("beta", frozenset({"user:bob"}), None)
    assert ids(retriever.lexical_search(ask(beta))) == {"b1"}


def test_delete_document_removes_every_chunk(retriever: OpenSearchRetriever):
    retriever.replace_document("acme", "d1", [chunk("c1", "d1"), chunk("c2", "d1")])
    retriever.replace_document("acme", "d2", [chunk("c3", "d2")])
    retriever.delete_document("acme", "d1")
    assert ids(retriever.lexical_search(ask(ANN))) == {"c3"}
    assert retriever.ensure_index(MODEL, DIM).chunk_count == 1


# -- the ACL filter inside BM25 ----------------------------------------------------------------

CORPUS = [
    chunk("hb", "d-hb"),
    chunk("eng-only", "d-eng", collection="secret", acl_allow=("group:eng",)),
    chunk("ann-denied", "d-deny", acl_deny=("user:ann",)),
    chunk("hr", "d-hr", collection="hr"),
    chunk("other-tenant", "d-x", tenant="globex"),
    chunk("other-tenant-allowed", "d-y", tenant="globex", acl_allow=("user:ann",)),
    chunk("finance", "d-fin", collection="finance", acl_allow=("group:finance",)),
    chunk("hr-allowed", "d-hr2", collection="hr", acl_allow=("user:ann",)),
    chunk("nohit", "d-nohit", text="unrelated words"),
]


@pytest.fixture(scope="module")
def corpus(osmem_server: OsmemServer) -> Iterator[OpenSearchRetriever]:
    """One populated index, read-only for the ACL tests (a clone kept for the module)."""
    with osmem_server.clone() as clone:
        r = make(clone.url)
        r.ensure_index(MODEL, DIM)
        for c in CORPUS:
            r.replace_document(c.tenant, c.document_id, [c])
        yield r
        r.close()


def expected(acl: AclFilter, scope: frozenset[str] | None = None) -> set[str]:
    return {
        c.chunk_id
        for c in CORPUS
        if "holiday" in c.text
        and (scope is None or c.collection in scope)
        and acl.matches(c.tenant, c.collection, c.acl_allow, c.acl_deny)
    }


CASES = {
    "collection grant": (ANN, None, {"hb", "eng-only", "hr-allowed"}),
    "tenant isolation": (
        AclFilter("globex", frozenset({"user:ann"}), None),
        None,
        {"other-tenant", "other-tenant-allowed"},
    ),
    "document allow without grant": (
        AclFilter("acme", frozenset({"user:ann"}), frozenset()),
        None,
        {"hr-allowed"},
    ),
    "document deny beats collection grant": (
        AclFilter("acme", frozenset({"user:ann"}), None),
        None,
        {"hb", "eng-only", "hr", "finance", "hr-allowed"},
    ),
    "denied collection beats document allow": (
        AclFilter("acme", frozenset({"user:ann"}), None, denied_collections=frozenset({"hr"})),
        None,
        {"hb", "eng-only", "finance"},
    ),
    "caller scope narrows": (
        AclFilter("acme", frozenset({"user:bob"}), None),
        frozenset({"hr"}),
        {"hr", "hr-allowed"},
    ),
    "deny all": (AclFilter("acme", frozenset({"user:ann"}), None, deny_all=True), None, set()),
    "no principals, no grant": (AclFilter("acme", frozenset(), frozenset()), None, set()),
}


@pytest.mark.parametrize("case", CASES)
def test_acl_cases_return_exactly_the_permitted_chunks(corpus: OpenSearchRetriever, case: str):
    acl, scope, want = CASES[case]
    assert want == expected(acl, scope), "the table agrees with the reference predicate"
    assert ids(corpus.lexical_search(ask(acl, collections=scope))) == want


principals = st.frozensets(st.sampled_from(["user:ann", "user:bob", "group:eng", "group:finance"]), max_size=3)
collections = st.frozensets(st.sampled_from(["handbook", "secret", "hr", "finance"]), max_size=3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    acl=st.builds(
        AclFilter,
        tenant=st.sampled_from(["acme", "globex", "initech"]),
        principals=principals,
        allowed_collections=st.none() | collections,
        denied_collections=collections,
        deny_all=st.booleans(),
    ),
    scope=st.none() | collections,
)
def test_random_filters_match_the_reference_predicate(
    corpus: OpenSearchRetriever, acl: AclFilter, scope: frozenset[str] | None
):
    assert ids(corpus.lexical_search(ask(acl, collections=scope))) == expected(acl, scope)


def test_title_is_searched_too(corpus: OpenSearchRetriever):
    hits = corpus.lexical_search(ask(AclFilter("acme", frozenset(), None), text="handbook"))
    assert "hb" in ids(hits)


# -- what osmem refuses: the retriever fails closed ----------------------------------------------


def test_hybrid_search_on_a_cluster_refusing_knn_is_unavailable_not_unfiltered(corpus: OpenSearchRetriever):
    with pytest.raises(SearchUnavailable):
        corpus.search(ask(ANN))
    with pytest.raises(SearchUnavailable):
        corpus.vector_search(ask(ANN))


def test_principal_sets_over_the_index_max_terms_count_are_refused(osmem_url: str, retriever: OpenSearchRetriever):
    OpenSearch(hosts=[osmem_url]).indices.put_settings(index=ALIAS, body={"index": {"max_terms_count": 3}})
    fresh = make(osmem_url)  # reads the setting from the cluster
    few = AclFilter("acme", frozenset({"a", "b", "c"}), None)
    assert fresh.lexical_search(ask(few)) == []
    with pytest.raises(InvalidRequest):
        fresh.lexical_search(ask(AclFilter("acme", frozenset({"a", "b", "c", "d"}), None)))


# -- reindex, ping -------------------------------------------------------------------------------


def test_reindex_copies_and_swaps_the_alias(retriever: OpenSearchRetriever, osmem_url: str):
    retriever.replace_document("acme", "d1", [chunk("c1", "d1")])
    assert retriever.reindex() == f"{ALIAS}-v2"
    client = OpenSearch(hosts=[osmem_url])
    assert list(client.indices.get_alias(name=ALIAS)) == [f"{ALIAS}-v2"]
    assert ids(retriever.lexical_search(ask(ANN))) == {"c1"}
    retriever.replace_document("acme", "d1", [chunk("c2", "d1", version=2)])  # writes go to v2
    assert ids(retriever.lexical_search(ask(ANN))) == {"c2"}
    assert retriever.reindex() == f"{ALIAS}-v3"


def test_ping(retriever: OpenSearchRetriever, osmem_url: str):
    retriever.ping()
    missing = OpenSearchRetriever(
        OpenSearchSettings(url=osmem_url, index_alias="nope"),
        SearchSettings(),
        client=OpenSearch(hosts=[osmem_url]),
    )
    with pytest.raises(SearchUnavailable):
        missing.ping()


def test_hits_carry_plain_sentence_highlights(retriever: OpenSearchRetriever):
    text = "Unrelated opening. The travel policy covers trains. Closing words."
    retriever.replace_document("acme", "d1", [chunk("c1", "d1", text=text)])
    (hit,) = retriever.lexical_search(ask(ANN, text="travel"))
    assert hit.highlights and all(h in hit.text for h in hit.highlights)
    assert any("travel" in h for h in hit.highlights)


def test_each_tenant_has_its_own_index_so_its_scores_do_not_move(retriever: OpenSearchRetriever, osmem_url: str):
    retriever.replace_document("acme", "d1", [chunk("c1", "d1", text="holiday policy for trains")])
    retriever.replace_document("acme", "d2", [chunk("c2", "d2", text="expense handbook for meals")])
    scores = lambda: [(h.chunk_id, h.score) for h in retriever.lexical_search(ask(ANN, text="holiday policy"))]  # noqa: E731
    before = scores()
    for i in range(10):
        retriever.replace_document("other", f"o{i}", [chunk(f"o{i}", f"o{i}", tenant="other", text="holiday policy")])
    assert scores() == before
    aliases = OpenSearch(hosts=[osmem_url]).indices.get_alias(name=f"{ALIAS}-t-*")
    assert len(aliases) == 2, "one index per tenant"
    retriever.replace_document("acme", "d3", [chunk("c3", "d3", text="holiday holiday policy")])
    assert dict(scores())["c1"] != dict(before)["c1"], "within a tenant the statistics are shared"
