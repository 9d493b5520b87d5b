"""What every retrieval backend must do: the ``Retriever`` protocol as executable rules.

Contract points beyond the protocol's docstrings, fixed here so every backend agrees:
``lexical_search`` and ``vector_search`` return the candidate lists that ``search`` fuses (the
best ``max(k, fusion.candidates)`` permitted chunks, not collapsed per document), so that
``top_k(fuse(lexical, vector, per_document=one_per_document))`` is what ``search`` returns: with
``one_per_document`` the two lists are fused by document (each side's best chunk per document).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from gateway.authz.filter import AclFilter
from gateway.errors import SearchUnavailable
from gateway.retrieval.base import FusionConfig, Hit, Retriever, SearchRequest
from gateway.retrieval.fusion import fuse, top_k
from tests.contracts.conftest import EMBEDDER, Backend, RetrieverFactory, make_chunks, put

ALICE = "user:alice"
BOB = "user:bob"
ENG = "group:eng"
EVERYONE_T1 = AclFilter("t1", frozenset({BOB}), None)


def request(acl: AclFilter, text: str = "policy handbook", *, k: int = 50, **kwargs: object) -> SearchRequest:
    fusion = FusionConfig(candidates=50)
    return SearchRequest(text=text, vector=EMBEDDER.embed([text])[0], acl=acl, k=k, fusion=fusion, **kwargs)  # type: ignore[arg-type]


def docs(hits: list[Hit]) -> set[str]:
    return {h.document_id for h in hits}


SEARCHES: list[Callable[[Retriever, SearchRequest], list[Hit]]] = [
    lambda r, q: r.search(q),
    lambda r, q: r.lexical_search(q),
    lambda r, q: r.vector_search(q),
]
SEARCH_IDS = ["hybrid", "lexical", "vector"]


@pytest.fixture
def acl_corpus(retriever: Retriever) -> Retriever:
    """Six documents, all about the policy handbook, with every kind of ACL."""
    text = ["the policy handbook explains travel expenses", "policy handbook section on leave"]
    put(retriever, make_chunks("pub", text))
    put(retriever, make_chunks("hr", text, collection="hr"))
    put(retriever, make_chunks("allow", text, collection="secret", acl_allow=(ALICE,)))
    put(retriever, make_chunks("deny", text, acl_deny=(ALICE,)))
    put(retriever, make_chunks("hr_eng", text, collection="hr", acl_allow=(ENG,)))
    put(retriever, make_chunks("other", text, tenant="t2"))
    return retriever


ACL_CASES = [
    # (rule, filter, caller scope, documents visible)
    ("tenant_isolation", EVERYONE_T1, None, {"pub", "hr", "allow", "deny", "hr_eng"}),
    ("allowed_collection", AclFilter("t1", frozenset({BOB}), frozenset({"public"})), None, {"pub", "deny"}),
    ("doc_allow", AclFilter("t1", frozenset({ALICE}), frozenset({"public"})), None, {"pub", "allow"}),
    (
        "doc_deny_beats_grant",
        AclFilter("t1", frozenset({ALICE}), None),
        None,
        {"pub", "hr", "allow", "hr_eng"},
    ),
    (
        "denied_collection_beats_doc_allow",
        AclFilter("t1", frozenset({ALICE}), frozenset({"public"}), denied_collections=frozenset({"secret"})),
        None,
        {"pub"},
    ),
    (
        "denied_collection_beats_grant",
        AclFilter("t1", frozenset({ENG}), None, denied_collections=frozenset({"hr"})),
        None,
        {"pub", "allow", "deny"},
    ),
    ("deny_all", AclFilter("t1", frozenset({ALICE}), None, deny_all=True), None, set()),
    ("no_grant_no_allow", AclFilter("t1", frozenset({BOB}), frozenset()), None, set()),
    ("unknown_tenant", AclFilter("t9", frozenset({BOB}), None), None, set()),
    ("caller_scope", EVERYONE_T1, frozenset({"hr"}), {"hr", "hr_eng"}),
    (
        "caller_scope_with_doc_allow",
        AclFilter("t1", frozenset({ENG}), frozenset({"public"})),
        frozenset({"hr"}),
        {"hr_eng"},
    ),
    ("empty_caller_scope", EVERYONE_T1, frozenset(), set()),
]


@pytest.mark.parametrize("search", SEARCHES, ids=SEARCH_IDS)
@pytest.mark.parametrize(("rule", "acl", "scope", "visible"), ACL_CASES, ids=[c[0] for c in ACL_CASES])
def test_acl_filter_is_applied_inside_every_search(
    acl_corpus: Retriever,
    search: Callable[[Retriever, SearchRequest], list[Hit]],
    rule: str,
    acl: AclFilter,
    scope: frozenset[str] | None,
    visible: set[str],
) -> None:
    hits = search(acl_corpus, request(acl, collections=scope))
    assert docs(hits) == visible, rule
    for hit in hits:
        assert acl.matches(hit.tenant, hit.collection, hit.acl_allow, hit.acl_deny)


def test_hits_carry_the_documents_acl(acl_corpus: Retriever) -> None:
    hits = acl_corpus.search(request(AclFilter("t1", frozenset({ALICE}), frozenset()), collections=None))
    assert [(h.document_id, h.collection, h.acl_allow, h.acl_deny) for h in hits] == [("allow", "secret", (ALICE,), ())]


@pytest.mark.parametrize("search", SEARCHES, ids=SEARCH_IDS)
def test_deleted_document_is_never_retrievable(
    retriever: Retriever, search: Callable[[Retriever, SearchRequest], list[Hit]]
) -> None:
    put(retriever, make_chunks("keep", ["policy handbook"]))
    put(retriever, make_chunks("gone", ["policy handbook", "more policy"]))
    retriever.delete_document("t1", "gone")
    assert docs(search(retriever, request(EVERYONE_T1))) == {"keep"}


def test_deleted_document_stays_deleted_after_restart(backend: Backend, retriever_factory: RetrieverFactory) -> None:
    if not backend.persistent:
        pytest.skip("state does not survive a restart on this backend")
    first = retriever_factory()
    put(first, make_chunks("keep", ["policy handbook"]))
    put(first, make_chunks("gone", ["policy handbook"]))
    first.delete_document("t1", "gone")
    first.close()
    assert docs(retriever_factory().search(request(EVERYONE_T1))) == {"keep"}


def test_deleting_an_unknown_document_is_harmless(retriever: Retriever) -> None:
    retriever.delete_document("t1", "never-existed")
    assert retriever.search(request(EVERYONE_T1)) == []


@pytest.mark.parametrize("search", SEARCHES, ids=SEARCH_IDS)
def test_replace_leaves_only_the_new_version(
    retriever: Retriever, search: Callable[[Retriever, SearchRequest], list[Hit]]
) -> None:
    put(
        retriever,
        make_chunks("doc", ["alpha policy one", "alpha policy two", "alpha policy three"], version=1),
    )
    new = make_chunks("doc", ["beta policy one", "beta policy two"], version=2)
    put(retriever, new)
    for text in ("alpha policy", "beta policy"):
        hits = search(retriever, request(EVERYONE_T1, text, one_per_document=False))
        assert {h.chunk_id for h in hits} == {c.chunk_id for c in new}
        assert {h.version for h in hits} == {2}


def test_unchanged_reingest_keeps_one_copy(retriever: Retriever) -> None:
    chunks = make_chunks("doc", ["policy handbook"])
    put(retriever, chunks)
    put(retriever, chunks)
    hits = retriever.search(request(EVERYONE_T1, one_per_document=False))
    assert [h.chunk_id for h in hits] == [chunks[0].chunk_id]


@pytest.fixture
def ranked_corpus(retriever: Retriever) -> Retriever:
    topics = ["travel", "expenses", "leave", "security", "laptops", "badges", "parking", "policy"]
    for i, topic in enumerate(topics):
        put(
            retriever,
            make_chunks(f"d{i}", [f"{topic} policy handbook {'detail ' * i}", f"{topics[i - 1]} appendix {topic}"]),
        )
    return retriever


@pytest.mark.parametrize("method", ["rrf", "weighted"])
@pytest.mark.parametrize("one_per_document", [True, False])
def test_search_is_fusion_of_lexical_and_vector_lists(
    ranked_corpus: Retriever, method: str, one_per_document: bool
) -> None:
    fusion = FusionConfig(method=method, candidates=6, lexical_weight=0.3)  # type: ignore[arg-type]
    text = "travel policy appendix"
    req = SearchRequest(
        text, EMBEDDER.embed([text])[0], EVERYONE_T1, k=4, fusion=fusion, one_per_document=one_per_document
    )
    lexical, vector = ranked_corpus.lexical_search(req), ranked_corpus.vector_search(req)
    assert len(lexical) == len(vector) == 6
    fused = fuse(lexical, vector, fusion, per_document=one_per_document)
    expected = top_k(fused, 4, one_per_document=one_per_document)
    got = ranked_corpus.search(req)
    assert [h.chunk_id for h in got] == [h.chunk_id for h in expected]
    assert [h.score for h in got] == pytest.approx([h.score for h in expected], rel=1e-5)
    # Per-list ranks are informational: server-side fusion (OpenSearch pipelines) does not report them.
    if any(h.lexical_rank is not None or h.vector_rank is not None for h in got):
        assert [(h.lexical_rank, h.vector_rank) for h in got] == [(h.lexical_rank, h.vector_rank) for h in expected]


def test_lists_are_ranked_best_first(ranked_corpus: Retriever) -> None:
    req = request(EVERYONE_T1, "travel policy")
    for hits in (ranked_corpus.lexical_search(req), ranked_corpus.vector_search(req)):
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("search", SEARCHES, ids=SEARCH_IDS)
def test_empty_index_gives_no_hits(
    retriever: Retriever, search: Callable[[Retriever, SearchRequest], list[Hit]]
) -> None:
    assert search(retriever, request(EVERYONE_T1)) == []


def test_query_without_terms_gives_no_lexical_hits_but_vector_hits(retriever: Retriever) -> None:
    put(retriever, make_chunks("doc", ["policy handbook"]))
    req = request(EVERYONE_T1, "?! ...")
    assert retriever.lexical_search(req) == []
    assert docs(retriever.search(req)) == docs(retriever.vector_search(req)) == {"doc"}


def test_one_hit_per_document_by_default(retriever: Retriever) -> None:
    put(retriever, make_chunks("many", [f"policy handbook part {i}" for i in range(6)]))
    put(retriever, make_chunks("single", ["policy handbook"]))
    hits = retriever.search(request(EVERYONE_T1, k=5))
    assert sorted(h.document_id for h in hits) == ["many", "single"]
    assert len(retriever.search(request(EVERYONE_T1, k=5, one_per_document=False))) == 5


def test_hits_have_highlights_from_their_text(retriever: Retriever) -> None:
    put(retriever, make_chunks("doc", ["Unrelated opening. The travel policy covers trains. Closing words."]))
    (hit,) = retriever.search(request(EVERYONE_T1, "travel"))
    assert hit.highlights
    assert all(h in hit.text for h in hit.highlights)
    assert any("travel" in h for h in hit.highlights)


def test_index_survives_restart(backend: Backend, retriever_factory: RetrieverFactory) -> None:
    if not backend.persistent:
        pytest.skip("state does not survive a restart on this backend")
    first = retriever_factory()
    put(first, make_chunks("doc", ["policy handbook", "travel rules"], collection="hr", acl_allow=(ALICE,)))
    before = first.search(request(EVERYONE_T1))
    first.close()
    again = retriever_factory()
    assert again.search(request(EVERYONE_T1)) == before
    info = again.ensure_index(EMBEDDER.model_id, EMBEDDER.dimension)
    assert info.chunk_count == 2


@pytest.mark.parametrize(("model", "dimension"), [("another-model", 64), (EMBEDDER.model_id, 32)])
def test_ensure_index_refuses_another_model(retriever: Retriever, model: str, dimension: int) -> None:
    with pytest.raises(SearchUnavailable):
        retriever.ensure_index(model, dimension)


def test_ping_passes_on_a_working_index(retriever: Retriever) -> None:
    retriever.ping()


# -- per-tenant statistics (issue 7, 11(b)) -----------------------------------------------------------


def _scores(retriever: Retriever, text: str) -> list[tuple[str, float]]:
    return [(h.chunk_id, round(h.score, 6)) for h in retriever.lexical_search(request(EVERYONE_T1, text))]


def test_scores_of_a_tenant_do_not_move_when_another_tenant_ingests(retriever: Retriever) -> None:
    put(retriever, make_chunks("a1", ["the holiday policy covers travel"], tenant="t1"))
    put(retriever, make_chunks("a2", ["the expense handbook covers meals"], tenant="t1"))
    before = _scores(retriever, "holiday policy")
    for i in range(12):  # another tenant floods the words of the query: df and lengths change there
        put(retriever, make_chunks(f"b{i}", ["holiday holiday policy policy policy " * (i + 1)], tenant="t2"))
    assert _scores(retriever, "holiday policy") == before
    retriever.delete_document("t2", "b0")
    assert _scores(retriever, "holiday policy") == before


def test_scores_do_move_when_the_same_tenant_ingests(retriever: Retriever) -> None:
    """The control for the rule above: within a tenant, statistics are shared (documented)."""
    put(retriever, make_chunks("a1", ["the holiday policy covers travel"], tenant="t1"))
    put(retriever, make_chunks("a2", ["the expense handbook covers meals"], tenant="t1"))
    before = _scores(retriever, "holiday policy")
    put(retriever, make_chunks("a3", ["holiday policy holiday policy"], tenant="t1", acl_allow=(ALICE,)))
    after = dict(_scores(retriever, "holiday policy"))
    assert after[before[0][0]] != before[0][1]


# -- document-level dense evidence ---------------------------------------------------------------------


def test_vector_scores_are_inner_products_so_a_passage_keeps_its_document_head_weight(retriever: Retriever) -> None:
    """Indexed vectors are (passage + head) / 2 with norm at most 1 (retrieval/document.py): a backend
    must rank by the inner product with the query, not renormalise the stored vector."""
    direction = EMBEDDER.embed(["release tagging on mondays"])[0]
    for doc, scale in (("full", 1.0), ("half", 0.5)):
        (chunk,) = make_chunks(doc, ["release tagging"])
        put(retriever, [replace(chunk, vector=(direction * scale).astype(np.float32))])
    hits = retriever.vector_search(request(EVERYONE_T1, "release tagging on mondays"))
    assert [h.document_id for h in hits] == ["full", "half"]
    assert hits[0].score > hits[1].score
