"""Defence in depth and fail-closed behaviour that needs a fault injected into a real component."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from litestar.testing import TestClient

from gateway.app import create_app
from gateway.auth.dev import mint_dev_token
from gateway.deps import build_services
from gateway.retrieval.base import Chunk, Hit, IndexInfo, Retriever, SearchRequest
from gateway.retrieval.embedded import EmbeddedRetriever
from tests.e2e.conftest import TENANT, load_sample, make_settings


class LeakyRetriever:
    """The real embedded engine, plus one forged hit from a document the caller may not read.

    Simulates a filter-compiler or backend bug; the pipeline's Casbin re-check must drop it.
    """

    def __init__(self, inner: EmbeddedRetriever) -> None:
        self.inner = inner

    def search(self, request: SearchRequest) -> list[Hit]:
        hits = self.inner.search(request)
        forged = Hit(
            chunk_id="forged",
            document_id="hr-restricted-salary-bands-2025",
            tenant=TENANT,
            collection="hr-restricted",
            version=1,
            title="Salary Bands 2025",
            text="Senior Software Engineer ENG-3 $145,000",
            score=99.0,
            acl_allow=("group:hr-leads",),
        )
        return [forged, *hits]

    def ensure_index(self, embedding_model: str, dimension: int) -> IndexInfo:
        return self.inner.ensure_index(embedding_model, dimension)

    def replace_document(self, tenant: str, document_id: str, chunks: Sequence[Chunk]) -> None:
        self.inner.replace_document(tenant, document_id, chunks)

    def replace_documents(self, items: Sequence[tuple[str, str, Sequence[Chunk]]]) -> None:
        self.inner.replace_documents(items)

    def delete_document(self, tenant: str, document_id: str) -> None:
        self.inner.delete_document(tenant, document_id)

    def lexical_search(self, request: SearchRequest) -> list[Hit]:
        return self.inner.lexical_search(request)

    def vector_search(self, request: SearchRequest) -> list[Hit]:
        return self.inner.vector_search(request)

    def ping(self) -> None:
        self.inner.ping()

    def close(self) -> None:
        self.inner.close()


def test_a_hit_the_policy_denies_is_dropped_counted_and_logged(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(data_dir)
    leaky: Retriever = LeakyRetriever(EmbeddedRetriever(settings.index_dir))
    services = build_services(settings, retriever=leaky)
    token = mint_dev_token(settings, "alice", ["staff", "engineering"], tenant=TENANT, ttl_seconds=60)
    with TestClient(app=create_app(services=services)) as client:
        r = client.post(
            "/v1/ask", json={"question": "salary range ENG-3"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 200
        assert "145,000" not in r.json()["answer"]
        assert all(c["chunk_id"] != "forged" for c in r.json()["citations"])
        metrics = client.get("/metrics").text
    assert 'gateway_security_events_total{event="filter_recheck_mismatch"} 1.0' in metrics
    assert any(getattr(rec, "event", None) == "filter_recheck_mismatch" for rec in caplog.records)
    services.close()


@pytest.mark.postgres
def test_the_app_on_postgresql_migrates_answers_and_audits(pg_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url=pg_url)
    services = build_services(settings)
    with TestClient(app=create_app(services=services)) as client:  # start-up runs the Alembic migrations
        load_sample(services)
        token = mint_dev_token(settings, "bob", ["staff", "hr", "hr-leads"], tenant=TENANT, ttl_seconds=60)
        headers = {"Authorization": f"Bearer {token}"}
        r = client.post(
            "/v1/ask", json={"question": "What is the salary range for a Senior Software Engineer?"}, headers=headers
        )
        assert r.status_code == 200 and r.json()["answered"], r.text
        assert r.json()["citations"][0]["document_id"] == "hr-restricted-salary-bands-2025"
        assert client.get("/readyz").status_code == 200
    result = services.audit.verify()
    asks = services.audit.search(tenant=TENANT, kind="ask", limit=10)
    assert result.ok and len(asks) == 1 and asks[0]["status"] == "answered"
    services.close()
