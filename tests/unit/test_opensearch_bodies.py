"""Every body the OpenSearch backend builds is valid against the strict OpenSearch request schema,
and obeys the rules a schema cannot express (hybrid at the top, filter in every subquery, ...).

The bundle in ``tests/data/opensearch-spec`` (strict variant) is the upstream
opensearch-api-specification with ``unevaluatedProperties: false`` added: typos and stray keys fail.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from gateway.authz.filter import AclFilter
from gateway.errors import InvalidRequest
from gateway.retrieval.base import Chunk, FusionConfig, SearchRequest
from gateway.retrieval.opensearch import mappings, pipelines, queries

SPEC = Path(__file__).parents[1] / "data" / "opensearch-spec" / "opensearch-requests.strict.schema.json"
DIM = 8


@cache
def validator(root: str) -> Draft202012Validator:
    bundle = json.loads(SPEC.read_text())
    return Draft202012Validator({"$schema": bundle["$schema"], "$defs": bundle["$defs"], "$ref": f"#/$defs/{root}"})


def errors(root: str, body: Any) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in validator(root).iter_errors(body)]


def acl(**kw: Any) -> AclFilter:
    base: dict[str, Any] = {"tenant": "acme", "principals": frozenset({"user:ann", "group:eng"})}
    base["allowed_collections"] = frozenset({"handbook"})
    base.update(kw)
    return AclFilter(**base)


def request(a: AclFilter, *, scope: frozenset[str] | None = None, dim: int = DIM) -> SearchRequest:
    return SearchRequest(text="vacation policy", vector=np.ones(dim, dtype=np.float32), acl=a, collections=scope)


def _filter(a: AclFilter, scope: frozenset[str] | None = None) -> dict[str, Any]:
    compiled = queries.acl_filter_query(a, scope)
    assert compiled is not None
    return compiled


def all_search_bodies(req: SearchRequest) -> dict[str, dict[str, Any]]:
    f = _filter(req.acl, req.collections)
    return {
        "lexical": queries.lexical_body(req, f, 50),
        "knn": queries.knn_body(req, f, 50),
        "hybrid-3.x": queries.hybrid_body(req, f, 50, hybrid_filter=True, pagination_depth=True),
        "hybrid-2.19": queries.hybrid_body(req, f, 50, hybrid_filter=False, pagination_depth=True),
        "hybrid-2.10": queries.hybrid_body(req, f, 50, hybrid_filter=False, pagination_depth=False),
        "hybrid-explain": queries.hybrid_body(req, f, 50, hybrid_filter=True, pagination_depth=True, explain=True),
    }


def assert_search_rules(name: str, body: dict[str, Any], acl_filter: dict[str, Any], dim: int) -> None:
    """Rules the schema cannot state."""
    assert "post_filter" not in body, "a post_filter runs after top-k: the ACL must be a pre-filter"
    query = body["query"]
    if name.startswith("hybrid"):
        assert list(query) == ["hybrid"], "hybrid must be the top-level query"
        hybrid = query["hybrid"]
        subqueries = hybrid["queries"]
        assert [next(iter(q)) for q in subqueries] == ["bool", "knn"], "order fixes the pipeline weights"
        if "filter" in hybrid:
            assert hybrid["filter"] == acl_filter
            assert "filter" not in subqueries[0]["bool"] and "filter" not in subqueries[1]["knn"]["embedding"]
        else:
            assert subqueries[0]["bool"]["filter"] == [acl_filter]
            assert subqueries[1]["knn"]["embedding"]["filter"] == acl_filter
        if "pagination_depth" in hybrid:
            assert hybrid["pagination_depth"] >= body["size"]
        knn = subqueries[1]["knn"]["embedding"]
    elif name == "knn":
        knn = query["knn"]["embedding"]
        assert knn["filter"] == acl_filter, "k-NN filter must be the efficient (in-graph) filter"
    else:
        assert query["bool"]["filter"] == [acl_filter]
        return
    assert len(knn["vector"]) == dim
    assert knn["k"] >= body["size"]


# -- ACL compilation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "scope"),
    [
        ({}, None),
        ({"allowed_collections": None}, None),
        ({"allowed_collections": frozenset()}, None),
        ({"denied_collections": frozenset({"hr"})}, None),
        ({"principals": frozenset()}, None),
        ({}, frozenset({"handbook", "wiki"})),
    ],
)
def test_every_search_body_is_schema_valid(kw: dict[str, Any], scope: frozenset[str] | None) -> None:
    req = request(acl(**kw), scope=scope)
    for name, body in all_search_bodies(req).items():
        assert errors("request.search", body) == [], name
        assert_search_rules(name, body, _filter(req.acl, scope), DIM)


def test_filter_is_tenant_bound_even_when_every_collection_is_allowed() -> None:
    compiled = _filter(acl(allowed_collections=None))
    assert compiled["bool"]["filter"] == [{"term": {"tenant": "acme"}}]
    assert {"terms": {"acl_deny": ["group:eng", "user:ann"]}} in compiled["bool"]["must_not"]


def test_grant_is_collection_or_document_allow() -> None:
    grant = _filter(acl())["bool"]["filter"][1]
    assert grant == {
        "bool": {
            "should": [
                {"terms": {"collection": ["handbook"]}},
                {"terms": {"acl_allow": ["group:eng", "user:ann"]}},
            ],
            "minimum_should_match": 1,
        }
    }


def test_denied_collections_and_document_deny_are_must_not() -> None:
    must_not = _filter(acl(denied_collections=frozenset({"hr"})))["bool"]["must_not"]
    assert must_not == [{"terms": {"acl_deny": ["group:eng", "user:ann"]}}, {"terms": {"collection": ["hr"]}}]


def test_caller_scope_is_an_extra_filter() -> None:
    assert {"terms": {"collection": ["wiki"]}} in _filter(acl(), frozenset({"wiki"}))["bool"]["filter"]


@pytest.mark.parametrize(
    ("kw", "scope"),
    [
        ({"deny_all": True}, None),
        ({}, frozenset()),
        ({"allowed_collections": frozenset(), "principals": frozenset()}, None),
    ],
)
def test_filters_that_match_nothing_compile_to_no_query(kw: dict[str, Any], scope: frozenset[str] | None) -> None:
    assert queries.acl_filter_query(acl(**kw), scope) is None


def test_principal_set_over_max_terms_count_fails_closed() -> None:
    big = frozenset(f"group:g{i}" for i in range(11))
    with pytest.raises(InvalidRequest) as info:
        queries.acl_filter_query(acl(principals=big), max_terms=10)
    assert info.value.code == "acl_filter_too_large"
    assert queries.acl_filter_query(acl(principals=big), max_terms=11) is not None


def test_principal_set_at_default_limit_is_accepted_and_one_more_refused() -> None:
    at_limit = frozenset(f"g{i}" for i in range(queries.DEFAULT_MAX_TERMS_COUNT))
    assert queries.acl_filter_query(acl(principals=at_limit)) is not None
    with pytest.raises(InvalidRequest):
        queries.acl_filter_query(acl(principals=at_limit | {"one-more"}))


# -- hypothesis: random filters and queries ----------------------------------------------------

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
name_sets = st.frozensets(names, max_size=6)
filters = st.builds(
    AclFilter,
    tenant=names,
    principals=name_sets,
    allowed_collections=st.none() | name_sets,
    denied_collections=name_sets,
    deny_all=st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(a=filters, scope=st.none() | name_sets, text=st.text(max_size=40), dim=st.integers(1, 64))
def test_random_filters_and_queries_give_valid_bodies(
    a: AclFilter, scope: frozenset[str] | None, text: str, dim: int
) -> None:
    compiled = queries.acl_filter_query(a, scope)
    if a.deny_all or scope == frozenset():
        assert compiled is None
    if compiled is None:
        return
    req = SearchRequest(text=text, vector=np.full(dim, 0.5, dtype=np.float32), acl=a, collections=scope)
    for name, body in all_search_bodies(req).items():
        assert errors("request.search", body) == [], name
        assert_search_rules(name, body, compiled, dim)


@settings(max_examples=60, deadline=None)
@given(method=st.sampled_from(["rrf", "weighted"]), rank=st.integers(1, 1000), weight=st.floats(0, 1))
def test_random_pipelines_are_valid_and_weights_sum_to_one(method: str, rank: int, weight: float) -> None:
    fusion = FusionConfig(method=method, rank_constant=rank, lexical_weight=weight)  # type: ignore[arg-type]
    body = pipelines.pipeline_body(fusion)
    assert errors("request.search_pipeline.put", body) == []
    processor = body["phase_results_processors"][0]
    if method == "weighted":
        weights = processor["normalization-processor"]["combination"]["parameters"]["weights"]
        assert len(weights) == 2, "one weight per hybrid subquery"
        assert sum(weights) == pytest.approx(1.0, abs=1e-9)
    else:
        assert processor["score-ranker-processor"]["combination"]["rank_constant"] == rank


# -- index, pipelines, aliases -----------------------------------------------------------------


@pytest.mark.parametrize("dim", [3, 384, 1024])
def test_index_body_is_valid_and_records_the_embedder(dim: int) -> None:
    body = mappings.index_body("all-MiniLM-L6-v2", dim, alias="gateway-chunks")
    assert errors("request.indices.create", body) == []
    assert body["settings"]["index"]["knn"] is True
    emb = body["mappings"]["properties"]["embedding"]
    assert emb["dimension"] == dim
    assert emb["method"] == {
        "name": "hnsw",
        "engine": "lucene",
        "space_type": "innerproduct",
        "parameters": {"m": 16, "ef_construction": 128},
    }
    assert body["mappings"]["_meta"]["embedding_model"] == "all-MiniLM-L6-v2"
    assert body["mappings"]["_meta"]["dimension"] == dim
    assert errors("request.indices.put_mapping", body["mappings"]) == []


def test_acl_fields_are_keywords_and_version_an_integer() -> None:
    props = mappings.mappings_body("m", 4)["properties"]
    for field in ("tenant", "collection", "document_id", "chunk_id", "acl_allow", "acl_deny", "labels"):
        assert props[field] == {"type": "keyword"}, field
    assert props["version"] == {"type": "integer"}
    assert props["text"]["type"] == props["title"]["type"] == "text"


@pytest.mark.parametrize("method", ["rrf", "weighted"])
@pytest.mark.parametrize("explain", [False, True])
def test_pipeline_bodies_are_schema_valid(method: str, explain: bool) -> None:
    body = pipelines.pipeline_body(FusionConfig(method=method, lexical_weight=0.3), explain=explain)  # type: ignore[arg-type]
    if explain:
        # The spec at this commit has no ``hybrid_score_explanation`` response processor (added in
        # OpenSearch 2.19 / neural-search): check the rest, and the processor's exact shape here.
        assert body.pop("response_processors") == [{"hybrid_score_explanation": {}}]
    assert errors("request.search_pipeline.put", body) == []


def test_weighted_pipeline_uses_min_max_and_arithmetic_mean() -> None:
    body = pipelines.pipeline_body(FusionConfig(method="weighted", lexical_weight=0.3))
    proc = body["phase_results_processors"][0]["normalization-processor"]
    assert proc["normalization"] == {"technique": "min_max"}
    assert proc["combination"] == {"technique": "arithmetic_mean", "parameters": {"weights": [0.3, 0.7]}}


def test_rrf_pipeline_uses_the_configured_rank_constant() -> None:
    body = pipelines.pipeline_body(FusionConfig(method="rrf", rank_constant=42))
    assert body["phase_results_processors"] == [
        {"score-ranker-processor": {"combination": {"technique": "rrf", "rank_constant": 42}}}
    ]


def test_pipeline_names_encode_their_parameters() -> None:
    assert pipelines.pipeline_name("gw", FusionConfig("rrf", 60)) == "gw-rrf-60"
    assert pipelines.pipeline_name("gw", FusionConfig("weighted", lexical_weight=0.25)) == "gw-weighted-0.250"
    assert pipelines.pipeline_name("gw", FusionConfig("rrf", 60), explain=True) == "gw-rrf-60-explain"


ALIAS_ACTIONS_SCHEMA = {
    # The bundle has no root for POST /_aliases; this is the documented shape of its actions.
    "type": "object",
    "properties": {
        "actions": {
            "type": "array",
            "minItems": 2,
            "items": {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "properties": {
                    "add": {"$ref": "#/$defs/action"},
                    "remove": {"$ref": "#/$defs/action"},
                },
                "additionalProperties": False,
            },
        }
    },
    "required": ["actions"],
    "additionalProperties": False,
    "$defs": {
        "action": {
            "type": "object",
            "properties": {
                "index": {"type": "string"},
                "alias": {"type": "string"},
                "is_write_index": {"type": "boolean"},
            },
            "required": ["index", "alias"],
            "additionalProperties": False,
        }
    },
}


def test_alias_swap_removes_and_adds_in_one_call() -> None:
    body = mappings.swap_alias_actions("gw", "gw-v1", "gw-v2")
    assert list(Draft202012Validator(ALIAS_ACTIONS_SCHEMA).iter_errors(body)) == []
    assert body["actions"][0] == {"remove": {"index": "gw-v1", "alias": "gw"}}
    assert body["actions"][1]["add"]["index"] == "gw-v2"


def test_write_block_and_delete_bodies_are_schema_valid() -> None:
    assert errors("request.indices.put_settings", mappings.write_block_body(True)) == []
    body = {"query": queries.document_query("acme", "doc-1", except_version=3)}
    assert errors("request.count", body) == []  # _delete_by_query takes the same {"query"} body


@pytest.mark.parametrize(("name", "version"), [("gw-v1", 1), ("gw-v12", 12), ("other-v3", 0), ("gw", 0), ("gw-vx", 0)])
def test_index_versions_are_read_from_names(name: str, version: int) -> None:
    assert mappings.index_version("gw", name) == version


def test_bulk_actions_use_chunk_id_as_document_id() -> None:
    chunk = Chunk("c1", "d1", "acme", "wiki", 2, 0, "T", "text", ("u",), (), ("pii",), np.ones(4, np.float32))
    action = mappings.bulk_actions("gw", [chunk])[0]
    assert action["_id"] == "c1" and action["_index"] == "gw"
    assert action["_source"]["embedding"] == [1.0, 1.0, 1.0, 1.0]
    assert errors("_core.bulk___OperationContainer", {"index": {"_index": "gw", "_id": "c1"}}) == []


@pytest.mark.parametrize(
    ("number", "hybrid", "rrf", "hybrid_filter"),
    [
        ("2.9.0", False, False, False),
        ("2.11.1", True, False, False),
        ("2.19.2", True, True, False),
        ("3.1.0", True, True, True),
    ],
)
def test_cluster_features_follow_the_version(number: str, hybrid: bool, rrf: bool, hybrid_filter: bool) -> None:
    features = pipelines.ClusterFeatures.from_info({"version": {"number": number, "distribution": "opensearch"}})
    assert (features.hybrid_query, features.rrf, features.hybrid_filter) == (hybrid, rrf, hybrid_filter)
    assert features.supports(FusionConfig("weighted")) is hybrid
    assert features.supports(FusionConfig("rrf")) is rrf


def test_a_server_that_is_not_opensearch_gets_client_side_fusion_only() -> None:
    es = pipelines.ClusterFeatures.from_info({"version": {"number": "8.15.0", "build_flavor": "default"}})
    assert not es.hybrid_query and not es.rrf and not es.hybrid_filter


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b["query"]["hybrid"].__setitem__("querys", b["query"]["hybrid"].pop("queries")),
        lambda b: b["query"]["hybrid"]["queries"][1]["knn"]["embedding"].__setitem__("fliter", {}),
        lambda b: b["query"]["hybrid"]["queries"][1]["knn"]["embedding"].pop("k"),
        lambda b: b.__setitem__("filter", {}),
    ],
)
def test_the_strict_schema_is_not_vacuous(mutate: Any) -> None:
    body = all_search_bodies(request(acl()))["hybrid-2.19"]
    mutate(body)
    assert errors("request.search", body) != []


def test_compound_identifiers_get_their_own_phrase_clause() -> None:
    body = {"query": queries.lexical_query("use --preserve-root with EPOLL_CTL_ADD", None)}
    phrases = [c["match_phrase"]["content"]["query"] for c in body["query"]["bool"]["should"]]
    assert phrases == ["use --preserve-root with EPOLL_CTL_ADD", "preserve-root", "EPOLL_CTL_ADD"]
    assert errors("request.search", body) == []
