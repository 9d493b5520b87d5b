"""Live-only checks of the OpenSearch backend (needs ``GATEWAY_OPENSEARCH_URL``; see docs/opensearch.md).

What the conformance suite cannot see: the server-side pipelines exist and are used, the k-NN
filter is an efficient pre-filter, and the alias swap works on a real cluster.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pytest

from gateway.authz.filter import AclFilter
from gateway.retrieval.base import Chunk, FusionConfig, SearchRequest
from gateway.retrieval.fusion import fuse, top_k
from gateway.retrieval.opensearch import OpenSearchRetriever
from gateway.retrieval.opensearch.pipelines import pipeline_name
from gateway.settings import OpenSearchSettings, SearchSettings

pytestmark = [
    pytest.mark.opensearch_live,
    pytest.mark.skipif(
        not OpenSearchSettings().url,
        reason="!!! OpenSearch live checks NOT RUN: set GATEWAY_OPENSEARCH_URL (docs/opensearch.md) !!!",
    ),
]
DIM = 8


def unit(i: int) -> np.ndarray:
    v = np.full(DIM, 0.05, np.float32)
    v[i % DIM] = 1.0
    return v / np.linalg.norm(v)


@pytest.fixture
def live() -> Iterator[OpenSearchRetriever]:
    alias = f"gw-live-{uuid.uuid4().hex[:10]}"
    settings = OpenSearchSettings().model_copy(update={"index_alias": alias})
    retriever = OpenSearchRetriever(settings, SearchSettings())
    retriever.ensure_index("live-test", DIM)
    yield retriever
    client = retriever._client  # test cleanup of what this test created
    client.indices.delete(index=f"{alias}-v*", ignore=[404])
    for fusion in retriever.fusion_configs():
        client.search_pipeline.delete(id=pipeline_name(alias, fusion), ignore=[404])
    retriever.close()


def chunk(i: int, *, cid: str | None = None, deny: tuple[str, ...] = (), vector: int | None = None) -> Chunk:
    cid = cid or f"c{i}"
    text = f"holiday policy {i}"
    return Chunk(
        cid,
        f"doc-{cid}",
        "acme",
        "wiki",
        1,
        0,
        "Handbook",
        text,
        (),
        deny,
        (),
        unit(i if vector is None else vector),
    )


ANN = AclFilter("acme", frozenset({"user:ann"}), None)


def test_pipelines_exist_and_server_side_rrf_matches_client_side_order(live: OpenSearchRetriever) -> None:
    for i in range(12):
        live.replace_document("acme", f"doc-c{i}", [chunk(i)])
    fusion = live.fusion_configs()[0]
    # Pipelines serve chunk-level searches; one hit per document is fused by document client-side.
    request = SearchRequest("holiday policy 3", unit(3), ANN, k=5, fusion=fusion, one_per_document=False)
    assert live._pipeline_for(fusion) is not None, "cluster should have the RRF pipeline (2.19+)"
    expected = top_k(fuse(live.lexical_search(request), live.vector_search(request), fusion), 5, one_per_document=False)
    assert [h.chunk_id for h in live.search(request)][:1] == [h.chunk_id for h in expected][:1]


def test_knn_filter_returns_k_permitted_neighbours(live: OpenSearchRetriever) -> None:
    # The 6 nearest neighbours of the query are denied to ann; 6 farther ones are not.
    for i in range(6):
        near = chunk(i, cid=f"near{i}", deny=("user:ann",), vector=0)
        live.replace_document("acme", near.document_id, [near])
    for i in range(1, 7):
        far = chunk(i)
        live.replace_document("acme", far.document_id, [far])
    request = SearchRequest("x", unit(0), ANN, k=6, fusion=FusionConfig(candidates=6))
    hits = live.vector_search(request)
    assert len(hits) == 6 and all(not h.chunk_id.startswith("near") for h in hits)


def test_reindex_swaps_the_alias_live(live: OpenSearchRetriever) -> None:
    live.replace_document("acme", "doc-c1", [chunk(1)])
    new = live.reindex()
    assert new.endswith("-v2")
    assert [h.chunk_id for h in live.lexical_search(SearchRequest("holiday", unit(1), ANN))] == ["c1"]
