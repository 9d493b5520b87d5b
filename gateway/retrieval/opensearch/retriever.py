"""``OpenSearchRetriever``: the ``Retriever`` protocol on an OpenSearch cluster.

Search path: compile the ACL filter (``queries.acl_filter_query``); when the cluster has the
``hybrid`` query and a gateway pipeline for the request's fusion, run one hybrid search through
that pipeline; otherwise run the lexical and k-NN searches separately, each with the filter
inside, and fuse them with ``gateway.retrieval.fusion``. Any failure is ``SearchUnavailable``; the
re-check of every hit is the pipeline's (``gateway.retrieval.recheck``), the same for every backend.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from opensearchpy import OpenSearch

from gateway.errors import InvalidRequest, SearchUnavailable
from gateway.retrieval.base import Chunk, FusionConfig, Hit, IndexInfo, SearchRequest
from gateway.retrieval.fusion import fuse, top_k
from gateway.retrieval.opensearch import index as idx
from gateway.retrieval.opensearch.client import build_client, unavailable_on_error, with_backoff
from gateway.retrieval.opensearch.pipelines import ClusterFeatures, pipeline_name
from gateway.retrieval.opensearch.queries import Body, acl_filter_query, hybrid_body, knn_body, lexical_body
from gateway.retrieval.opensearch.writes import delete_document_chunks, index_chunks
from gateway.settings import OpenSearchSettings, SearchSettings

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _IndexState:
    index: str
    dimension: int
    max_terms: int


class OpenSearchRetriever:
    """Permission-filtered hybrid retrieval on OpenSearch (see ``docs/opensearch.md``)."""

    def __init__(
        self,
        settings: OpenSearchSettings,
        search: SearchSettings,
        *,
        client: OpenSearch | None = None,
        explain_scores: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``explain_scores`` adds the ``hybrid_score_explanation`` processor (2.19+) to pipelines."""
        self._settings = settings
        self._search = search
        self._client = client if client is not None else build_client(settings)
        self._alias = settings.index_alias
        self._explain = explain_scores
        self._sleep = sleep
        self._attempts = max(settings.max_retries, 0) + 1
        self._features: ClusterFeatures | None = None
        self._state: _IndexState | None = None
        self._pipelines: dict[str, bool] = {}

    # -- index management -------------------------------------------------------------------

    def fusion_configs(self) -> tuple[FusionConfig, ...]:
        """The fusions the settings can ask for; a search pipeline is created for each.

        RRF and weighted always; with ``adaptive`` fusion also the two weighted configs the
        query-adaptive router picks (identifier and natural-language weights).
        """
        s = self._search
        configs = [
            FusionConfig("rrf", s.rrf_rank_constant, s.lexical_weight, s.candidates),
            FusionConfig("weighted", s.rrf_rank_constant, s.lexical_weight, s.candidates),
        ]
        if s.fusion == "adaptive":
            for weight in (s.adaptive_identifier_weight, s.adaptive_natural_weight):
                configs.append(FusionConfig("weighted", s.rrf_rank_constant, weight, s.candidates))
        return tuple(dict.fromkeys(configs))

    def ensure_index(self, embedding_model: str, dimension: int) -> IndexInfo:
        """Create the versioned index, alias and search pipelines if missing; check ``_meta``."""
        self.init(embedding_model, dimension)
        with unavailable_on_error("count"):
            count = int(self._client.count(index=self._alias)["count"])
        return IndexInfo(embedding_model, dimension, count)

    def init(self, embedding_model: str, dimension: int) -> str:
        """``ensure_index`` plus (re)creating the pipelines; returns the concrete index name."""
        index = idx.ensure_index(self._client, self._alias, embedding_model, dimension)
        self._state = _IndexState(index, dimension, idx.max_terms_count(self._client, index))
        features = self._cluster()
        supported = [f for f in self.fusion_configs() if features.supports(f)]
        explain = self._explain and features.score_explanation
        created = idx.put_pipelines(self._client, self._alias, supported, explain=explain)
        for fusion in supported:
            name = pipeline_name(self._alias, fusion, explain=explain)
            self._pipelines[name] = name in created
        return index

    def reindex(self) -> str:
        """Build ``<alias>-v<n+1>``, copy every chunk into it, swap the alias; returns the new name."""
        new = idx.reindex(self._client, self._alias)
        self._state = None
        return new

    # -- writes -------------------------------------------------------------------------------

    def replace_document(self, tenant: str, document_id: str, chunks: Sequence[Chunk]) -> None:
        """Index the new version, then delete every other version of the document.

        Raises ``BulkWriteError`` (a ``SearchUnavailable``) when chunks could not be written; the
        old version is then left in place, so the document stays searchable as it was.
        """
        versions = {c.version for c in chunks}
        if any(c.tenant != tenant or c.document_id != document_id for c in chunks) or len(versions) > 1:
            raise InvalidRequest("replace_document needs chunks of this one document and one version")
        if not chunks:
            self.delete_document(tenant, document_id)
            return
        state = self._index_state()
        for chunk in chunks:
            if chunk.vector is not None and len(chunk.vector) != state.dimension:
                raise InvalidRequest(f"chunk vector has dimension {len(chunk.vector)}, index has {state.dimension}")
        index_chunks(self._client, self._alias, chunks, attempts=self._attempts, sleep=self._sleep)
        delete_document_chunks(
            self._client, self._alias, tenant, document_id, except_version=versions.pop(),
            attempts=self._attempts, sleep=self._sleep,
        )  # fmt: skip

    def replace_documents(self, items: Sequence[tuple[str, str, Sequence[Chunk]]]) -> None:
        """Bulk replace: each document keeps its own bulk + stale-version delete, in order."""
        for tenant, document_id, chunks in items:
            self.replace_document(tenant, document_id, chunks)

    def delete_document(self, tenant: str, document_id: str) -> None:
        """Delete every chunk of the document (``delete_by_query`` + refresh)."""
        delete_document_chunks(
            self._client, self._alias, tenant, document_id, attempts=self._attempts, sleep=self._sleep
        )

    # -- searches -----------------------------------------------------------------------------

    def search(self, request: SearchRequest) -> list[Hit]:
        """Hybrid search: server-side pipeline when available, else client-side fusion."""
        acl_filter = self._compile(request)
        if acl_filter is None:
            return []
        self._check_vector(request)
        size = max(request.fusion.candidates, request.k)
        pipeline = self._pipeline_for(request.fusion)
        if pipeline is None:
            lexical = self._run(lexical_body(request, acl_filter, size), "lexical search")
            vector = self._run(knn_body(request, acl_filter, size), "vector search", rank_field="vector_rank")
            return self._finish(fuse(lexical, vector, request.fusion), request)
        features = self._cluster()
        body = hybrid_body(
            request, acl_filter, size,
            hybrid_filter=features.hybrid_filter, pagination_depth=features.pagination_depth,
            explain=pipeline.endswith("-explain"),
        )  # fmt: skip
        return self._finish(self._run(body, "hybrid search", pipeline=pipeline, rank_field=None), request)

    def lexical_search(self, request: SearchRequest) -> list[Hit]:
        """BM25 only, same filter (evaluation, query-adaptive routing)."""
        acl_filter = self._compile(request)
        if acl_filter is None:
            return []
        size = max(request.fusion.candidates, request.k)
        return self._finish(self._run(lexical_body(request, acl_filter, size), "lexical search"), request)

    def vector_search(self, request: SearchRequest) -> list[Hit]:
        """k-NN only, same filter (evaluation)."""
        acl_filter = self._compile(request)
        if acl_filter is None:
            return []
        self._check_vector(request)
        size = max(request.fusion.candidates, request.k)
        body = knn_body(request, acl_filter, size)
        return self._finish(self._run(body, "vector search", rank_field="vector_rank"), request)

    def ping(self) -> None:
        """Raise ``SearchUnavailable`` unless the cluster answers and the alias exists."""
        with unavailable_on_error("ping"):
            if not self._client.indices.exists_alias(name=self._alias):
                raise SearchUnavailable(f"search index alias {self._alias} does not exist")

    def close(self) -> None:
        with unavailable_on_error("close"):
            self._client.close()

    # -- internals ----------------------------------------------------------------------------

    def _cluster(self) -> ClusterFeatures:
        if self._features is None:
            self._features = idx.cluster_features(self._client)
        return self._features

    def _index_state(self) -> _IndexState:
        if self._state is None:
            index = idx.current_index(self._client, self._alias)
            if index is None:
                raise SearchUnavailable(f"no search index behind alias {self._alias}")
            meta = idx.index_meta(self._client, index)
            self._state = _IndexState(index, int(meta.get("dimension", 0)), idx.max_terms_count(self._client, index))
        return self._state

    def _compile(self, request: SearchRequest) -> Body | None:
        if request.acl.deny_all:
            return None  # not even a round trip
        return acl_filter_query(request.acl, request.collections, max_terms=self._index_state().max_terms)

    def _check_vector(self, request: SearchRequest) -> None:
        dimension = self._index_state().dimension
        if len(request.vector) != dimension:
            raise InvalidRequest(f"query vector has dimension {len(request.vector)}, index has {dimension}")

    def _pipeline_for(self, fusion: FusionConfig) -> str | None:
        features = self._cluster()
        if not features.supports(fusion):
            return None
        name = pipeline_name(self._alias, fusion, explain=self._explain and features.score_explanation)
        if name not in self._pipelines:
            self._pipelines[name] = idx.pipeline_exists(self._client, name)
        return name if self._pipelines[name] else None

    def _run(
        self, body: Body, action: str, *, pipeline: str | None = None, rank_field: str | None = "lexical_rank"
    ) -> list[Hit]:
        params = {"search_pipeline": pipeline} if pipeline else None
        response: dict[str, Any] = with_backoff(
            action,
            lambda: self._client.search(index=self._alias, body=body, params=params),
            attempts=self._attempts,
            sleep=self._sleep,
        )
        with unavailable_on_error(action):
            shards = response.get("_shards", {})
            if response.get("timed_out") or shards.get("failed", 0):
                # Partial results are filtered, but silently incomplete answers are not a service.
                raise SearchUnavailable(f"search backend returned partial results for {action}")
            return [_to_hit(raw, rank, rank_field) for rank, raw in enumerate(response["hits"]["hits"], 1)]

    def _finish(self, hits: list[Hit], request: SearchRequest) -> list[Hit]:
        """Keep the newest version of each document, cut to ``k``. The re-check of every hit
        (filter, registry, policy) is the pipeline's, the same for every backend."""
        newest: dict[str, int] = {}
        for hit in hits:
            newest[hit.document_id] = max(hit.version, newest.get(hit.document_id, hit.version))
        current = [h for h in hits if h.version == newest[h.document_id]]
        return top_k(current, request.k, one_per_document=request.one_per_document)


def _to_hit(raw: dict[str, Any], rank: int, rank_field: str | None) -> Hit:
    src = raw["_source"]
    return Hit(
        chunk_id=str(src.get("chunk_id", raw["_id"])),
        document_id=str(src["document_id"]),
        tenant=str(src["tenant"]),
        collection=str(src["collection"]),
        version=int(src["version"]),
        title=str(src.get("title", "")),
        text=str(src.get("text", "")),
        score=float(raw.get("_score") or 0.0),
        acl_allow=tuple(src.get("acl_allow") or ()),
        acl_deny=tuple(src.get("acl_deny") or ()),
        highlights=_highlights(raw, str(src.get("text", ""))),
        lexical_rank=rank if rank_field == "lexical_rank" else None,
        vector_rank=rank if rank_field == "vector_rank" else None,
    )


def _highlights(raw: dict[str, Any], text: str) -> tuple[str, ...]:
    fragments = (raw.get("highlight") or {}).get("text") or []
    return tuple(f.strip() for f in fragments if f.strip() and f.strip() in text)
