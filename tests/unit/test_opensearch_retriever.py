"""The retriever against a scripted cluster behind the real opensearch-py client and transport.

``ScriptedCluster`` is an opensearch-py ``Connection`` (the real interface, not a mock): every
request the retriever sends — index creation, pipelines, searches, bulk lines, deletes, alias
actions — is recorded and validated against the strict OpenSearch request schema, for each
cluster version that changes what we send (2.9: no hybrid, 2.11: hybrid + weighted, 2.19: RRF and
``pagination_depth``, 3.1: ``hybrid.filter``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from opensearchpy import Connection, OpenSearch

from gateway.authz.filter import AclFilter
from gateway.errors import InvalidRequest, SearchUnavailable
from gateway.retrieval.base import Chunk, FusionConfig, Retriever, SearchRequest
from gateway.retrieval.opensearch import BulkWriteError, OpenSearchRetriever
from gateway.settings import OpenSearchSettings, SearchSettings
from tests.unit.test_opensearch_bodies import ALIAS_ACTIONS_SCHEMA, assert_search_rules, errors

ALIAS = "gw-chunks"
DIM = 4
Json = dict[str, Any]


@dataclass
class ScriptedCluster:
    """An in-process OpenSearch stand-in: enough state for the retriever's calls, all recorded."""

    version: str = "3.1.0"
    indices: dict[str, Json] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    pipelines: dict[str, Json] = field(default_factory=dict)
    docs: dict[str, Json] = field(default_factory=dict)
    requests: list[tuple[str, str, Json, Any]] = field(default_factory=list)
    failures: list[tuple[str, int]] = field(default_factory=list)
    """(path fragment, status): the next request whose path contains the fragment fails so."""
    bulk_item_status: list[int] = field(default_factory=list)
    """Per bulk call, a status to give every item (popped from the front); empty: 201."""
    refuse_pipelines: bool = False

    def connection_class(self) -> type[Connection]:
        cluster = self

        class _Conn(Connection):
            def perform_request(
                self, method: str, url: str, params: Any = None, body: Any = None,
                timeout: Any = None, ignore: Any = (), headers: Any = None,
            ) -> Any:  # fmt: skip
                decoded = {k: v.decode() if isinstance(v, bytes) else v for k, v in (params or {}).items()}
                status, data = cluster.handle(method, url, decoded, body)
                raw = json.dumps(data)
                if not (200 <= status < 300) and status not in ignore:
                    self._raise_error(status, raw, "application/json")
                return status, {"content-type": "application/json"}, raw

        return _Conn

    def client(self) -> OpenSearch:
        return OpenSearch(hosts=["http://scripted:9200"], connection_class=self.connection_class(), max_retries=0)

    # -- routing --------------------------------------------------------------------------------

    def handle(self, method: str, url: str, params: Json, raw: bytes | None) -> tuple[int, Any]:
        path = url.split("?", maxsplit=1)[0].strip("/")
        body: Any = None
        if raw:
            text = raw.decode() if isinstance(raw, bytes) else raw
            body = [json.loads(x) for x in text.splitlines() if x] if path.endswith("_bulk") else json.loads(text)
        self.requests.append((method, path, params, body))
        for i, (fragment, status) in enumerate(self.failures):
            if fragment in path:
                del self.failures[i]
                return status, {"error": {"type": "scripted", "reason": "scripted"}, "status": status}
        parts = path.split("/")
        route: Callable[..., tuple[int, Any]] = getattr(self, f"_{method.lower()}_{len(parts)}")
        return route(parts, params, body)

    def _missing(self, name: str) -> tuple[int, Any]:
        return 404, {"error": {"type": "index_not_found_exception", "reason": name}, "status": 404}

    def _concrete(self, name: str) -> str:
        return self.aliases.get(name, name)

    def _get_1(self, parts: list[str], params: Json, body: Any) -> tuple[int, Any]:
        if parts == [""]:
            return 200, {"version": {"number": self.version, "distribution": "opensearch"}}
        prefix = parts[0].rstrip("*")
        return 200, {n: {} for n in self.indices if n.startswith(prefix)}

    def _head_1(self, parts: list[str], params: Json, body: Any) -> tuple[int, Any]:
        return (200 if parts[0] in self.indices else 404), {}

    def _head_2(self, parts: list[str], params: Json, body: Any) -> tuple[int, Any]:
        return (200 if parts[1] in self.aliases else 404), {}

    def _put_1(self, parts: list[str], params: Json, body: Any) -> tuple[int, Any]:
        self.indices[parts[0]] = body
        for alias in body.get("aliases", {}):
            self.aliases[alias] = parts[0]
        return 200, {"acknowledged": True, "index": parts[0]}

    def _get_2(self, parts: list[str], params: Json, body: Any) -> tuple[int, Any]:
        if parts[0] == "_alias":
            if parts[1] not in self.aliases:
                return self._missing(parts[1])
            return 200, {self.aliases[parts[1]]: {"aliases": {parts[1]: {}}}}
        index = self._concrete(parts[0])
        if index not in self.indices:
            return self._missing(index)
        if parts[1] == "_mapping":
            return 200, {index: {"mappings": self.indices[index]["mappings"]}}
        return 200, {index: {"settings": {"index": {"max_terms_count": "65536"}}}}

    def _put_2(self, parts: list[str], params: Json, body: Any) -> tuple[int, Any]:
        return 200, {"acknowledged": True}  # _settings

    def _post_1(self, parts: list[str], params: Json, body: Any) -> tuple[int, Any]:
        if parts[0] == "_bulk":
            status = self.bulk_item_status.pop(0) if self.bulk_item_status else 201
            items = []
            for action, source in zip(body[0::2], body[1::2], strict=True):
                op = action["index"]
                if status < 300:
                    self.docs[op["_id"]] = source
                    items.append({"index": {"_id": op["_id"], "status": status}})
                else:
                    items.append({"index": {"_id": op["_id"], "status": status, "error": {"type": "x"}}})
            return 200, {"errors": status >= 300, "items": items}
        if parts[0] == "_aliases":
            for action in body["actions"]:
                if "add" in action:
                    self.aliases[action["add"]["alias"]] = action["add"]["index"]
            return 200, {"acknowledged": True}
        return 200, {"total": len(self.docs), "created": len(self.docs), "failures": []}  # _reindex

    def _post_2(self, parts: list[str], params: Json, body: Any) -> tuple[int, Any]:
        if parts[1] == "_count":
            return 200, {"count": len(self.docs)}
        if parts[1] == "_delete_by_query":
            return 200, {"deleted": 0, "failures": [], "version_conflicts": 0}
        hits = [{"_id": i, "_score": 1.0, "_source": d} for i, d in sorted(self.docs.items())]
        return 200, {"_shards": {"total": 1, "failed": 0}, "timed_out": False, "hits": {"hits": hits}}

    def _put_3(self, parts: list[str], params: Json, body: Any) -> tuple[int, Any]:
        if self.refuse_pipelines:
            return 400, {
                "error": {"type": "parse_exception", "reason": "no normalization-processor"},
                "status": 400,
            }
        self.pipelines[parts[2]] = body
        return 200, {"acknowledged": True}

    def _get_3(self, parts: list[str], params: Json, body: Any) -> tuple[int, Any]:
        return (200, {parts[2]: self.pipelines[parts[2]]}) if parts[2] in self.pipelines else (404, {})

    # -- checks -----------------------------------------------------------------------------------

    def assert_every_body_valid(self) -> int:
        """Validate each recorded body against its schema root; returns how many were checked."""
        checked = 0
        for method, path, _params, body in self.requests:
            if body is None:
                continue
            if path.endswith("_search"):
                assert errors("request.search", body) == [], body
            elif path.startswith("_search/pipeline/"):
                processors = {k: v for k, v in body.items() if k != "response_processors"}
                assert errors("request.search_pipeline.put", processors) == []
            elif path.endswith("_bulk"):
                assert errors("request.bulk", body) == []
                for line in body[0::2]:
                    assert errors("_core.bulk___OperationContainer", line) == []
            elif path.endswith(("_delete_by_query", "_count")):
                assert errors("request.count", body) == []
            elif path.endswith("_settings"):
                assert errors("request.indices.put_settings", body) == []
            elif path == "_aliases":
                from jsonschema import Draft202012Validator

                assert list(Draft202012Validator(ALIAS_ACTIONS_SCHEMA).iter_errors(body)) == []
            elif path == "_reindex":
                assert set(body) <= {"source", "dest", "conflicts"}
            elif method == "PUT" and "/" not in path:
                assert errors("request.indices.create", body) == []
            else:
                raise AssertionError(f"unvalidated body for {method} {path}")
            checked += 1
        return checked

    def searches(self) -> list[tuple[Json, Any]]:
        return [(p, b) for m, path, p, b in self.requests if path.endswith("_search")]


def chunk(cid: str, doc: str, version: int, **kw: Any) -> Chunk:
    base: dict[str, Any] = {
        "tenant": "acme",
        "collection": "wiki",
        "ordinal": 0,
        "title": "T",
        "text": "holiday",
    }
    base.update(kw)
    return Chunk(cid, doc, version=version, vector=np.ones(DIM, np.float32), **base)


READER = AclFilter("acme", frozenset({"user:ann"}), frozenset({"wiki"}))


def make(cluster: ScriptedCluster, **search: Any) -> OpenSearchRetriever:
    retriever = OpenSearchRetriever(
        OpenSearchSettings(url="http://scripted:9200", index_alias=ALIAS, max_retries=2),
        SearchSettings(**search),
        client=cluster.client(),
        sleep=lambda _: None,
    )
    retriever.ensure_index("minilm", DIM)
    return retriever


def req(fusion: FusionConfig | None = None, acl: AclFilter = READER) -> SearchRequest:
    return SearchRequest("holiday", np.ones(DIM, np.float32), acl, fusion=fusion or FusionConfig())


def test_is_a_retriever() -> None:
    assert isinstance(make(ScriptedCluster()), Retriever)


@pytest.mark.parametrize(
    ("version", "method", "expect"),
    [
        ("3.1.0", "rrf", "hybrid.filter"),
        ("3.1.0", "weighted", "hybrid.filter"),
        ("2.19.1", "rrf", "per-subquery"),
        ("2.11.0", "weighted", "per-subquery"),
        ("2.11.0", "rrf", "client-side"),
        ("2.9.0", "weighted", "client-side"),
    ],
)
def test_search_variant_follows_cluster_version(version: str, method: str, expect: str) -> None:
    cluster = ScriptedCluster(version=version)
    retriever = make(cluster)
    retriever.replace_document("acme", "d1", [chunk("c1", "d1", 1)])
    fusion = FusionConfig(method=method)  # type: ignore[arg-type]
    assert [h.chunk_id for h in retriever.search(req(fusion))] == ["c1"]
    searches = cluster.searches()
    if expect == "client-side":
        assert len(searches) == 2 and all("search_pipeline" not in p for p, _ in searches)
        assert "bool" in searches[0][1]["query"] and "knn" in searches[1][1]["query"]
    else:
        (params, body), = searches  # fmt: skip
        assert params["search_pipeline"] in cluster.pipelines, "the pipeline is named in the request params"
        assert ("filter" in body["query"]["hybrid"]) is (expect == "hybrid.filter")
    for _params, body in searches:
        name = "knn" if "knn" in body["query"] else "lexical" if "bool" in body["query"] else "hybrid"
        acl_filter = body["query"]["hybrid"].get("filter") if name == "hybrid" else None
        acl_filter = acl_filter or _first_filter(body)
        assert_search_rules(name, body, acl_filter, DIM)
    assert cluster.assert_every_body_valid() >= 5


def _first_filter(body: Json) -> Json:
    query = body["query"]
    if "hybrid" in query:
        return query["hybrid"]["queries"][1]["knn"]["embedding"]["filter"]  # type: ignore[no-any-return]
    if "knn" in query:
        return query["knn"]["embedding"]["filter"]  # type: ignore[no-any-return]
    return query["bool"]["filter"][0]  # type: ignore[no-any-return]


def test_fusion_other_than_the_configured_pipelines_is_fused_client_side() -> None:
    cluster = ScriptedCluster()
    retriever = make(cluster, rrf_rank_constant=60)
    retriever.replace_document("acme", "d1", [chunk("c1", "d1", 1)])
    retriever.search(req(FusionConfig("rrf", rank_constant=10)))
    assert all("search_pipeline" not in p for p, _ in cluster.searches())


def test_refused_pipelines_fall_back_to_client_side_fusion() -> None:
    cluster = ScriptedCluster(refuse_pipelines=True)
    retriever = make(cluster)
    retriever.replace_document("acme", "d1", [chunk("c1", "d1", 1)])
    assert [h.chunk_id for h in retriever.search(req())] == ["c1"]
    assert len(cluster.searches()) == 2


def test_deny_all_sends_no_query() -> None:
    cluster = ScriptedCluster()
    retriever = make(cluster)
    deny = AclFilter("acme", frozenset({"user:ann"}), None, deny_all=True)
    for call in (retriever.search, retriever.lexical_search, retriever.vector_search):
        assert call(req(acl=deny)) == []
    assert cluster.searches() == []


def test_hits_the_filter_forbids_are_dropped_by_the_shared_recheck_even_if_the_cluster_returns_them() -> None:
    from pathlib import Path

    from gateway.auth.principal import Principal
    from gateway.authz.rules import PolicyRule
    from gateway.authz.service import PolicyService
    from gateway.retrieval.recheck import DocumentState, recheck

    cluster = ScriptedCluster()
    retriever = make(cluster)
    retriever.replace_document("acme", "d1", [chunk("c1", "d1", 1)])
    retriever.replace_document("other", "d2", [chunk("c2", "d2", 1, tenant="other")])
    retriever.replace_document("acme", "d3", [chunk("c3", "d3", 1, acl_deny=("user:ann",))])
    hits = retriever.lexical_search(req())
    assert {h.chunk_id for h in hits} == {"c1", "c2", "c3"}  # the scripted cluster ignores the filter

    class Registry:  # every document committed at version 1, as the chunks say
        def states(self, tenant: str, ids: Any) -> dict[str, DocumentState]:
            return {d: DocumentState(d, 1, 1, "indexed", "wiki") for d in ids}

    model = Path(__file__).resolve().parents[2] / "policies" / "model.conf"
    grant = PolicyRule("p", ("user:ann", "acme", "collection:wiki", "read", "allow"))
    view = PolicyService.from_rules(model, [grant]).current()
    ann = Principal("ann", "acme")
    checked = recheck(hits, principal=ann, view=view, acl=READER, scope=None, states=Registry())
    assert [h.chunk_id for h in checked.kept] == ["c1"]
    assert sorted(reason for _, reason in checked.dropped) == ["filter_recheck_mismatch"] * 2


def test_only_the_newest_version_of_a_document_is_returned() -> None:
    cluster = ScriptedCluster()
    retriever = make(cluster)
    retriever.replace_document("acme", "d1", [chunk("old", "d1", 1)])
    retriever.replace_document("acme", "d1", [chunk("new", "d1", 2)])  # the fake deletes nothing
    request = SearchRequest("holiday", np.ones(DIM, np.float32), READER, one_per_document=False)
    assert [h.chunk_id for h in retriever.lexical_search(request)] == ["new"]


def test_replace_writes_then_deletes_other_versions_of_that_document() -> None:
    cluster = ScriptedCluster()
    make(cluster).replace_document("acme", "d1", [chunk("c1", "d1", 7), chunk("c2", "d1", 7)])
    writes = [(m, p, params, b) for m, p, params, b in cluster.requests if p.endswith(("_bulk", "_delete_by_query"))]
    assert [p for _, p, _, _ in writes] == ["_bulk", f"{ALIAS}/_delete_by_query"]
    assert writes[0][2]["refresh"] == "wait_for" and writes[1][2]["refresh"] == "true"
    assert [line["index"]["_id"] for line in writes[0][3][0::2]] == ["c1", "c2"]
    assert writes[1][3]["query"]["bool"] == {
        "filter": [{"term": {"tenant": "acme"}}, {"term": {"document_id": "d1"}}],
        "must_not": [{"term": {"version": 7}}],
    }


def test_transient_bulk_item_failures_are_retried() -> None:
    cluster = ScriptedCluster(bulk_item_status=[429, 503])
    make(cluster).replace_document("acme", "d1", [chunk("c1", "d1", 1)])
    assert "c1" in cluster.docs
    assert sum(p == "_bulk" for _, p, _, _ in cluster.requests) == 3


def test_bulk_items_failing_after_retries_raise_and_keep_the_old_version() -> None:
    cluster = ScriptedCluster(bulk_item_status=[429, 429, 429])
    with pytest.raises(BulkWriteError) as info:
        make(cluster).replace_document("acme", "d1", [chunk("c1", "d1", 1)])
    assert info.value.failed_chunk_ids == ("c1",)
    assert not any(p.endswith("_delete_by_query") for _, p, _, _ in cluster.requests)


def test_rejected_bulk_items_are_not_retried() -> None:
    cluster = ScriptedCluster(bulk_item_status=[400])
    with pytest.raises(BulkWriteError):
        make(cluster).replace_document("acme", "d1", [chunk("c1", "d1", 1)])
    assert sum(p == "_bulk" for _, p, _, _ in cluster.requests) == 1


def test_delete_document_deletes_by_tenant_and_document() -> None:
    cluster = ScriptedCluster()
    make(cluster).delete_document("acme", "d1")
    (body,) = [b for _, p, _, b in cluster.requests if p.endswith("_delete_by_query")]
    assert body == {"query": {"bool": {"filter": [{"term": {"tenant": "acme"}}, {"term": {"document_id": "d1"}}]}}}


@pytest.mark.parametrize("status", [500, 502, 503, 429, 400, 403])
def test_search_errors_are_search_unavailable(status: int) -> None:
    cluster = ScriptedCluster(version="2.9.0")
    retriever = make(cluster)
    cluster.failures = [("_search", status)] * 5
    with pytest.raises(SearchUnavailable):
        retriever.search(req())


def test_transient_search_error_is_retried_once_then_served() -> None:
    cluster = ScriptedCluster(version="2.9.0")
    retriever = make(cluster)
    retriever.replace_document("acme", "d1", [chunk("c1", "d1", 1)])
    cluster.failures = [("_search", 503)]
    assert [h.chunk_id for h in retriever.lexical_search(req())] == ["c1"]


def test_ensure_index_refuses_another_embedder() -> None:
    cluster = ScriptedCluster()
    make(cluster)
    other = OpenSearchRetriever(
        OpenSearchSettings(url="http://x", index_alias=ALIAS), SearchSettings(), client=cluster.client()
    )
    with pytest.raises(SearchUnavailable, match="minilm"):
        other.ensure_index("another-model", DIM)
    with pytest.raises(SearchUnavailable):
        other.ensure_index("minilm", DIM + 1)


def test_query_vector_of_the_wrong_dimension_is_refused() -> None:
    retriever = make(ScriptedCluster())
    bad = SearchRequest("q", np.ones(DIM + 1, np.float32), READER)
    with pytest.raises(InvalidRequest):
        retriever.vector_search(bad)


def test_reindex_creates_next_version_copies_and_swaps_alias_atomically() -> None:
    cluster = ScriptedCluster()
    retriever = make(cluster)
    assert cluster.aliases[ALIAS] == f"{ALIAS}-v1"
    assert retriever.reindex() == f"{ALIAS}-v2"
    assert cluster.aliases[ALIAS] == f"{ALIAS}-v2"
    steps = [
        (m, p)
        for m, p, _, _ in cluster.requests
        if p in {f"{ALIAS}-v2", "_reindex", "_aliases"} or (p.endswith("_settings") and m == "PUT")
    ]
    assert steps == [
        ("PUT", f"{ALIAS}-v2"),
        ("PUT", f"{ALIAS}-v1/_settings"),
        ("POST", "_reindex"),
        ("POST", "_aliases"),
    ]
    assert cluster.indices[f"{ALIAS}-v2"]["mappings"]["_meta"]["dimension"] == DIM
    assert "aliases" not in cluster.indices[f"{ALIAS}-v2"], "the alias moves only in the _aliases call"
    cluster.assert_every_body_valid()


def test_failed_reindex_unblocks_writes_and_keeps_the_alias() -> None:
    cluster = ScriptedCluster()
    retriever = make(cluster)
    cluster.failures = [("_reindex", 500)]
    with pytest.raises(SearchUnavailable):
        retriever.reindex()
    assert cluster.aliases[ALIAS] == f"{ALIAS}-v1"
    blocks = [b for m, p, _, b in cluster.requests if m == "PUT" and p == f"{ALIAS}-v1/_settings"]
    assert blocks == [{"index": {"blocks": {"write": True}}}, {"index": {"blocks": {"write": False}}}]


def test_adaptive_fusion_weights_get_server_side_pipelines() -> None:
    cluster = ScriptedCluster(version="3.1.0")
    retriever = make(cluster, fusion="adaptive", adaptive_identifier_weight=0.8, adaptive_natural_weight=0.3)
    assert {f"{ALIAS}-weighted-0.800", f"{ALIAS}-weighted-0.300", f"{ALIAS}-rrf-60"} <= set(cluster.pipelines)
    retriever.replace_document("acme", "d1", [chunk("c1", "d1", 1)])
    retriever.search(req(FusionConfig("weighted", lexical_weight=0.8)))
    (params, _body), = cluster.searches()  # fmt: skip
    assert params["search_pipeline"] == f"{ALIAS}-weighted-0.800"
