"""No change without its audit row, no row for a change that did not happen, one row per answer
(issue 7, items 4, 5, 7 and 8). Faults are injected into real components: an SQLite trigger that
makes the audit store refuse inserts (as a revoked privilege would), a retriever whose writes fail,
a generator that raises."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from gateway.app import create_app
from gateway.auth.dev import mint_dev_token
from gateway.authz.rules import PolicyRule
from gateway.authz.store import PolicyStore
from gateway.deps import Services, build_services
from gateway.errors import SearchUnavailable
from gateway.generation.base import NO_CONTEXT, AskContext, Completion
from gateway.generation.extractive import ExtractiveGenerator
from gateway.retrieval.base import Chunk, Hit
from gateway.retrieval.embedded import EmbeddedRetriever
from tests.e2e.conftest import TENANT, make_settings

Auth = Callable[..., dict[str, str]]
ONCALL = "eng-oncall-rotation"
EDITOR = ["staff", "engineering", "gateway-admins"]


def refuse_audit_inserts(services: Services, when: str = "1") -> None:
    """The audit store refuses (matching) inserts from now on; everything else keeps working."""
    with services.engine.begin() as conn:
        conn.execute(
            text(
                f"CREATE TRIGGER audit_down BEFORE INSERT ON audit_log WHEN {when} BEGIN SELECT RAISE(ABORT, 'no'); END"
            )
        )


def rows(services: Services, **filters: Any) -> list[dict[str, Any]]:
    return services.audit.search(tenant=TENANT, limit=50, **filters)


def test_a_policy_change_is_not_applied_when_its_row_cannot_be_written(
    client: TestClient[Any], services: Services, auth: Auth
) -> None:
    version, before = PolicyStore(services.engine).load()
    refuse_audit_inserts(services)
    rule = {"ptype": "p", "rule": ["user:olga", TENANT, "collection:finance", "read", "allow"]}
    r = client.post("/v1/admin/policies", json=rule, headers=auth("root", ["gateway-admins"]))
    assert r.status_code == 503 and r.json()["code"] == "audit_unavailable"
    assert PolicyStore(services.engine).load() == (version, before)


def test_an_ingest_is_not_applied_when_its_intent_row_cannot_be_written(
    client: TestClient[Any], services: Services, auth: Auth
) -> None:
    refuse_audit_inserts(services)
    doc = {"id": "eng-new", "collection": "engineering", "text": "the zebrafish protocol"}
    assert client.post("/v1/documents", json=doc, headers=auth("root", EDITOR)).status_code == 503
    assert services.documents.registry.get(TENANT, "eng-new") is None
    with services.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_down"))
    hits = client.post("/v1/search", json={"query": "zebrafish protocol"}, headers=auth("alice", ["engineering"]))
    assert all(h["document_id"] != "eng-new" for h in hits.json()["hits"])


def test_a_delete_is_not_applied_when_its_row_cannot_be_written(
    client: TestClient[Any], services: Services, auth: Auth
) -> None:
    refuse_audit_inserts(services, "NEW.status = 'pending'")
    assert client.delete(f"/v1/documents/{ONCALL}", headers=auth("root", EDITOR)).status_code == 503
    assert client.get(f"/v1/documents/{ONCALL}", headers=auth("alice", ["engineering"])).status_code == 200


def test_when_the_outcome_row_fails_the_new_version_is_never_served(
    client: TestClient[Any], services: Services, auth: Auth
) -> None:
    """Failure order 1: intent row written, index written, outcome row refused."""
    refuse_audit_inserts(services, "NEW.status = 'ok' AND NEW.kind = 'ingest'")
    doc = {"id": ONCALL, "collection": "engineering", "text": "# On-call\n\nThe pager rotates every fortnight."}
    assert client.post("/v1/documents", json=doc, headers=auth("root", EDITOR)).status_code == 503
    row = services.documents.registry.get(TENANT, ONCALL)
    assert row is not None and (row.version, row.assigned_version) == (1, 2)
    hits = client.post("/v1/search", json={"query": "pager rotates fortnight"}, headers=auth("alice", ["engineering"]))
    assert all("fortnight" not in h["text"] for h in hits.json()["hits"])
    assert [r["status"] for r in rows(services, kind="ingest", subject="root")] == ["pending"]
    assert services.documents.registry.interrupted() == [f"{TENANT}/{ONCALL}"]  # gateway doctor names it


class FailingWrites(EmbeddedRetriever):
    """The real engine, whose writes fail (a full disk, a lost cluster)."""

    def replace_documents(self, items: Sequence[tuple[str, str, Sequence[Chunk]]]) -> None:
        raise SearchUnavailable("the search index could not be written")


@pytest.fixture
def failing_index(data_dir: Path) -> Iterator[tuple[TestClient[Any], Services]]:
    settings = make_settings(data_dir)
    services = build_services(settings, retriever=FailingWrites(settings.index_dir))
    with TestClient(app=create_app(services=services)) as client:
        yield client, services
    services.close()


def test_when_the_index_write_fails_the_registry_still_describes_what_is_searchable(
    failing_index: tuple[TestClient[Any], Services],
) -> None:
    """Failure order 2: intent row written, index write refused: outcome ``failed``, old version kept."""
    client, services = failing_index
    token = mint_dev_token(services.settings, "root", EDITOR, tenant=TENANT, ttl_seconds=60)
    doc = {"id": ONCALL, "collection": "engineering", "text": "changed", "acl": {"deny": ["group:sre"]}}
    r = client.post("/v1/documents", json=doc, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 503 and r.json()["code"] == "search_unavailable"
    row = services.documents.registry.get(TENANT, ONCALL)
    assert row is not None and (row.version, row.status, row.acl["deny"]) == (1, "indexed", [])
    assert [r["status"] for r in rows(services, kind="ingest", subject="root")] == ["failed", "pending"]
    reader = mint_dev_token(services.settings, "alice", ["engineering", "sre"], tenant=TENANT, ttl_seconds=60)
    hits = client.post("/v1/search", json={"query": "on-call rotation"}, headers={"Authorization": f"Bearer {reader}"})
    assert ONCALL in {h["document_id"] for h in hits.json()["hits"]}


class ExplodingGenerator(ExtractiveGenerator):
    def generate(self, question: str, hits: Sequence[Hit], context: AskContext = NO_CONTEXT) -> Completion:
        raise RuntimeError("model backend crashed")


def test_an_unexpected_generator_error_is_a_500_with_exactly_one_failed_row(
    client: TestClient[Any], services: Services, auth: Auth
) -> None:
    services.pipeline.generator = ExplodingGenerator()
    before = services.audit.verify().rows_checked
    r = client.post("/v1/ask", json={"question": "on-call rotation"}, headers=auth("alice", ["engineering"]))
    assert r.status_code == 500 and r.json()["code"] == "internal_error" and "crashed" not in r.text
    assert services.audit.verify().rows_checked == before + 1
    row = rows(services, kind="ask")[0]
    failure = {"error": "internal_error", "exc_type": "RuntimeError", "generation": {"generator": "extractive-v1"}}
    assert (row["status"], row["details"]) == ("failed", failure)  # the row names the generator that failed
    assert row["request_id"] == r.headers["x-request-id"] and row["answer"] is None


class PolicyChangingGenerator(ExtractiveGenerator):
    """Changes the policy while the request is being answered (a reload landing mid-request)."""

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services

    def generate(self, question: str, hits: Sequence[Hit], context: AskContext = NO_CONTEXT) -> Completion:
        rule = PolicyRule("p", ("user:zed", TENANT, "collection:legal", "read", "allow"))
        self.services.policy.add_rule(rule, actor="test")
        return super().generate(question, hits)


def test_the_row_names_the_policy_version_that_filtered_the_request(
    client: TestClient[Any], services: Services, auth: Auth
) -> None:
    version = services.policy.version
    services.pipeline.generator = PolicyChangingGenerator(services)
    r = client.post("/v1/ask", json={"question": "on-call rotation"}, headers=auth("alice", ["engineering"]))
    assert r.status_code == 200 and services.policy.version == version + 1
    assert rows(services, kind="ask")[0]["policy_version"] == version


def test_a_stale_chunk_of_an_old_version_never_reaches_an_answer(
    client: TestClient[Any], services: Services, auth: Auth
) -> None:
    """The index still holds version 1 (say a delete failed) while the registry says version 2."""
    alice = auth("alice", ["staff", "engineering", "sre"])
    question = {"question": "How much is the weekly on-call stipend?"}
    first = client.post("/v1/ask", json=question, headers=alice).json()
    assert first["citations"][0]["document_id"] == ONCALL
    stale = [h for h in services.retriever.search(_request(services, alice)) if h.document_id == ONCALL]
    doc = {"id": ONCALL, "collection": "engineering", "text": "# On-call\n\nThe stipend was abolished."}
    assert client.post("/v1/documents", json=doc, headers=auth("root", EDITOR)).status_code == 201
    services.retriever.replace_document(TENANT, ONCALL, [_chunk(services, h) for h in stale])  # diverge
    answer = client.post("/v1/ask", json=question, headers=alice).json()
    assert all(c["document_id"] != ONCALL for c in answer["citations"])
    assert 'gateway_security_events_total{event="stale_chunk"}' in client.get("/metrics").text


def _request(services: Services, _headers: dict[str, str]) -> Any:
    from gateway.auth.principal import Principal
    from gateway.retrieval.base import SearchRequest

    acl = services.policy.compile_filter(Principal("alice", TENANT, frozenset({"engineering", "sre"})))
    vector = services.embedder.embed(["on-call stipend"])[0]
    return SearchRequest("on-call stipend", vector, acl, k=20, one_per_document=False)


def _chunk(services: Services, hit: Hit) -> Chunk:
    vector = services.embedder.embed([hit.text])[0]
    return Chunk(
        hit.chunk_id, hit.document_id, hit.tenant, hit.collection, hit.version, 0, hit.title, hit.text, vector=vector
    )
