"""The HTTP API as callers meet it: authentication, permission-aware search and ask, documents, audit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient

from gateway.deps import Services
from gateway.errors import PolicyUnavailable
from gateway.generation.base import NO_ANSWER
from tests.e2e.conftest import TENANT

Auth = Callable[..., dict[str, str]]


def _persona(personas: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(p for p in personas if p["subject"] == name)


def _headers(auth: Auth, persona: dict[str, Any]) -> dict[str, str]:
    return auth(persona["subject"], list(persona["groups"]), persona["tenant"])


# -- authentication ------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-token", "Basic dXNlcjpwdw==", "Bearer a.b.c"])
def test_v1_without_a_valid_bearer_token_is_401_problem(client: TestClient[Any], header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    r = client.post("/v1/search", json={"query": "leave"}, headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["www-authenticate"].startswith("Bearer")
    body = r.json()
    assert body["code"] == "unauthenticated" and body["request_id"] == r.headers["x-request-id"]
    assert "Traceback" not in r.text


def test_token_for_another_audience_is_refused(client: TestClient[Any], services: Services) -> None:
    from gateway.auth.dev import mint_dev_token
    from gateway.settings import Settings

    other = Settings(
        environment="test",
        data_dir=services.settings.data_dir,
        dev_issuer=True,
        oidc={"audience": "someone-else"},
    )  # type: ignore[arg-type]
    token = mint_dev_token(other, "alice", ["staff"], ttl_seconds=60)
    r = client.post("/v1/search", json={"query": "leave"}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


def test_health_ready_metrics_and_schema_need_no_token(client: TestClient[Any]) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "index": "ok", "policy": "ok", "anchors": "ok"}
    client.post("/v1/search", json={"query": "x"})
    metrics = client.get("/metrics").text
    assert "gateway_http_requests_total" in metrics and 'route="/v1/search"' in metrics
    assert client.get("/schema/openapi.json").status_code == 200


# -- permission-aware retrieval --------------------------------------------------------------------


def test_search_never_returns_a_document_the_persona_may_not_read(
    client: TestClient[Any], auth: Auth, personas: list[dict[str, Any]], services: Services
) -> None:
    titles = {row_id: row_title for row_id, row_title in _titles(services)}
    checked = 0
    for persona in personas:
        forbidden = set(persona["cannot_read"])
        for doc_id in forbidden:
            r = client.post("/v1/search", json={"query": titles[doc_id], "k": 20}, headers=_headers(auth, persona))
            assert r.status_code == 200, r.text
            returned = {h["document_id"] for h in r.json()["hits"]}
            assert not returned & forbidden, (persona["name"], doc_id)
            checked += 1
    assert checked > 10


def test_search_finds_what_the_persona_may_read(
    client: TestClient[Any], auth: Auth, personas: list[dict[str, Any]], services: Services
) -> None:
    titles = dict(_titles(services))
    for persona in personas:
        for doc_id in persona["can_read"][:5]:
            r = client.post("/v1/search", json={"query": titles[doc_id], "k": 10}, headers=_headers(auth, persona))
            assert doc_id in {h["document_id"] for h in r.json()["hits"]}, (persona["name"], doc_id)


def test_hits_carry_the_ingested_document_id_version_and_text(
    client: TestClient[Any], auth: Auth, personas: list[dict[str, Any]]
) -> None:
    alice = _persona(personas, "alice")
    r = client.post(
        "/v1/search", json={"query": alice["sample_questions"][0]["question"]}, headers=_headers(auth, alice)
    )
    hit = r.json()["hits"][0]
    assert set(hit) >= {"document_id", "chunk_id", "title", "version", "score", "text", "highlights"}
    assert hit["version"] == 1 and hit["text"]
    assert len({h["document_id"] for h in r.json()["hits"]}) == len(r.json()["hits"])  # one hit per document


def test_sample_questions_are_answered_with_a_citation_of_the_expected_document(
    client: TestClient[Any], auth: Auth, personas: list[dict[str, Any]]
) -> None:
    answered = 0
    for persona in personas:
        for q in persona["sample_questions"]:
            r = client.post("/v1/ask", json={"question": q["question"]}, headers=_headers(auth, persona))
            assert r.status_code == 200, r.text
            body = r.json()
            cited = {c["document_id"] for c in body["citations"]}
            if q["expected_document_id"] in cited:
                answered += 1
            assert body["request_id"] == r.headers["x-request-id"]
    total = sum(len(p["sample_questions"]) for p in personas)
    assert answered >= 0.8 * total, f"{answered}/{total}"


def test_no_answer_is_worded_the_same_whether_or_not_hidden_documents_match(
    client: TestClient[Any], auth: Auth, personas: list[dict[str, Any]], services: Services
) -> None:
    titles = dict(_titles(services))
    dana = _persona(personas, "dana")
    hidden_topic = titles[dana["cannot_read"][0]]
    nonsense = "zyxwvut quantum pineapple regatta"
    a = client.post("/v1/ask", json={"question": hidden_topic}, headers=_headers(auth, dana)).json()
    b = client.post("/v1/ask", json={"question": nonsense}, headers=_headers(auth, dana)).json()
    assert b["answer"] == NO_ANSWER and b["citations"] == []
    for cited in a["citations"]:
        assert cited["document_id"] not in dana["cannot_read"]
    if not a["citations"]:
        assert a["answer"] == NO_ANSWER


def test_another_tenant_sees_nothing_of_northwind(client: TestClient[Any], auth: Auth) -> None:
    headers = auth("mallory", ["staff", "engineering", "hr", "finance", "legal"], tenant="globex")
    r = client.post("/v1/search", json={"query": "policy leave expense deployment"}, headers=headers)
    assert r.status_code == 200 and r.json()["hits"] == []


# -- documents --------------------------------------------------------------------------------------


def test_document_lifecycle_is_versioned_idempotent_and_delete_is_final(client: TestClient[Any], auth: Auth) -> None:
    # An admin who also reads engineering: updating and deleting need read on the existing document.
    admin = auth("root", ["gateway-admins", "engineering"])
    reader = auth("alice", ["staff", "engineering"])
    doc = {
        "id": "eng/new-runbook",
        "title": "Kraken failover runbook",
        "collection": "engineering",
        "text": "# Failover\n\nThe kraken cluster fails over to the secondary region in 4 minutes.",
    }
    first = client.post("/v1/documents", json=doc, headers=admin)
    assert first.status_code == 201 and first.json() == {
        "id": "eng/new-runbook",
        "version": 1,
        "status": "indexed",
    }
    again = client.post("/v1/documents", json=doc, headers=admin)
    assert again.status_code == 200 and again.json()["version"] == 1
    changed = client.post(
        "/v1/documents", json={**doc, "text": doc["text"].replace("4 minutes", "90 seconds")}, headers=admin
    )
    assert changed.status_code == 201 and changed.json()["version"] == 2
    hits = client.post("/v1/search", json={"query": "kraken failover"}, headers=reader).json()["hits"]
    assert hits[0]["document_id"] == "eng/new-runbook" and hits[0]["version"] == 2
    assert "90 seconds" in hits[0]["text"]
    assert client.get("/v1/documents/eng/new-runbook", headers=reader).json()["version"] == 2
    assert client.delete("/v1/documents/eng/new-runbook", headers=admin).status_code == 200
    hits = client.post("/v1/search", json={"query": "kraken failover"}, headers=reader).json()["hits"]
    assert all(h["document_id"] != "eng/new-runbook" for h in hits)
    assert client.get("/v1/documents/eng/new-runbook", headers=reader).status_code == 404


def test_ingest_needs_write_on_the_collection(client: TestClient[Any], auth: Auth) -> None:
    doc = {"id": "x1", "title": "x", "collection": "engineering", "text": "hello"}
    r = client.post("/v1/documents", json=doc, headers=auth("alice", ["staff", "engineering"]))
    assert r.status_code == 403 and r.json()["code"] == "forbidden"


def test_pdf_and_html_are_ingested_through_base64(client: TestClient[Any], auth: Auth) -> None:
    import base64

    html = (
        b"<html><head><title>Zeppelin memo</title></head><body><h1>Zeppelin</h1><p>Hangar 7 opens at dawn.</p>"
        b"<p style='display:none'>draft navigation menu</p></body></html>"  # injected text: tests/e2e/test_poisoning.py
    )
    body = {
        "id": "eng/zeppelin",
        "collection": "engineering",
        "mime_type": "text/html",
        "content_base64": base64.b64encode(html).decode(),
    }
    admin = auth("root", ["gateway-admins"])
    assert client.post("/v1/documents", json=body, headers=admin).status_code == 201
    reader = auth("alice", ["staff", "engineering"])
    hits = client.post("/v1/search", json={"query": "hangar zeppelin"}, headers=reader).json()["hits"]
    assert hits[0]["document_id"] == "eng/zeppelin" and "navigation" not in hits[0]["text"]


@pytest.mark.parametrize(
    "body",
    [
        {"id": "a", "collection": "engineering"},
        {"id": "a", "collection": "engineering", "text": "x", "content_base64": "eA=="},
        {"id": "a", "collection": "engineering", "content_base64": "eA=="},
        {"id": "a", "collection": "engineering", "content_base64": "!!!", "mime_type": "text/plain"},
        {"id": "../../etc", "collection": "engineering", "text": "x"},
        {"id": "a", "collection": "Bad Collection", "text": "x"},
        {"id": "a", "collection": "engineering", "text": "x", "acl": {"allow": ["everyone"]}},
        {"id": "a", "collection": "engineering", "text": "x", "surprise": 1},
    ],
)
def test_bad_document_bodies_are_400_problems(client: TestClient[Any], auth: Auth, body: dict[str, Any]) -> None:
    r = client.post("/v1/documents", json=body, headers=auth("root", ["gateway-admins"]))
    assert r.status_code in (400, 403), r.text
    assert r.headers["content-type"].startswith("application/problem+json")


# -- audit -------------------------------------------------------------------------------------------


def test_every_ask_is_audited_and_the_chain_verifies(client: TestClient[Any], auth: Auth, services: Services) -> None:
    before = services.audit.verify().rows_checked
    headers = auth("alice", ["staff", "engineering"])
    ids = [
        client.post("/v1/ask", json={"question": q}, headers=headers).json()["request_id"]
        for q in ("on-call rotation", "zyxwvut nothing", "deployment freeze")
    ]
    result = services.audit.verify()
    assert result.ok and result.rows_checked == before + 3
    rows = services.audit.search(tenant="northwind", subject="alice", kind="ask", limit=10, before_sequence=None)
    assert {r["request_id"] for r in rows} >= set(ids)
    row = next(r for r in rows if r["request_id"] == ids[0])
    assert row["question"] == "on-call rotation" and row["policy_version"] >= 1 and row["generator"]
    assert set(row["latencies_ms"]) >= {"authorize", "embed", "retrieve", "generate"}


def test_audit_store_down_means_503_and_no_answer(client: TestClient[Any], auth: Auth, services: Services) -> None:
    from sqlalchemy import text

    with services.engine.begin() as conn:
        conn.execute(text("ALTER TABLE audit_log RENAME TO audit_log_gone"))
    r = client.post("/v1/ask", json={"question": "on-call rotation"}, headers=auth("alice", ["engineering"]))
    assert r.status_code == 503
    assert r.json()["code"] == "audit_unavailable" and "answer" not in r.json() and "detail" not in r.json()


def test_search_backend_down_means_503(client: TestClient[Any], auth: Auth, services: Services) -> None:
    services.retriever.close()
    r = client.post("/v1/ask", json={"question": "on-call rotation"}, headers=auth("alice", ["engineering"]))
    assert r.status_code == 503 and r.json()["code"] == "search_unavailable"
    assert client.get("/readyz").status_code == 503


def test_a_policy_store_outage_keeps_the_last_good_policy_for_a_bounded_time_then_fails_closed(
    client: TestClient[Any], auth: Auth, services: Services
) -> None:
    import time

    from sqlalchemy import text

    headers = auth("alice", ["engineering"])
    with services.engine.begin() as conn:
        conn.execute(text("DROP TABLE casbin_rule"))
        conn.execute(text("DROP TABLE policy_state"))
    with pytest.raises(PolicyUnavailable):
        services.policy.reload()
    # One failed reload is not an outage: the last good version is still enforced ...
    assert client.post("/v1/search", json={"query": "on-call rotation"}, headers=headers).status_code == 200
    # ... until it could not be confirmed for stale_after seconds; then every request refuses.
    deadline = time.monotonic() + services.policy.stale_after + 5
    while time.monotonic() < deadline:
        r = client.post("/v1/search", json={"query": "on-call rotation"}, headers=headers)
        if r.status_code == 503:
            break
        time.sleep(0.2)
    assert r.status_code == 503 and r.json()["code"] == "policy_unavailable"


# -- admin -------------------------------------------------------------------------------------------


def test_admin_routes_need_the_admin_role(client: TestClient[Any], auth: Auth) -> None:
    alice = auth("alice", ["staff", "engineering"])
    assert client.get("/v1/admin/policies", headers=alice).status_code == 403
    assert client.get("/v1/admin/audit", headers=alice).status_code == 403
    assert client.get("/v1/admin/policies", headers=auth("root", ["gateway-admins"])).status_code == 200
    assert client.get("/v1/admin/audit", headers=auth("ivy", ["gateway-auditors"])).status_code == 200


def test_a_policy_change_through_the_api_applies_and_is_audited(
    client: TestClient[Any], auth: Auth, services: Services
) -> None:
    admin = auth("root", ["gateway-admins"])
    outsider = auth("olga", ["staff"])
    query = {"query": "on-call rotation pager", "collections": ["engineering"]}
    assert client.post("/v1/search", json=query, headers=outsider).json()["hits"] == []
    rule = {"ptype": "p", "rule": ["user:olga", "northwind", "collection:engineering", "read", "allow"]}
    r = client.post("/v1/admin/policies", json=rule, headers=admin)
    assert r.status_code == 201 and r.json()["added"] is True
    assert client.post("/v1/search", json=query, headers=outsider).json()["hits"]
    rows = services.audit.search(tenant="northwind", subject="root", kind="admin", limit=5, before_sequence=None)
    assert rows[0]["action"] == "policy.add"


def test_explain_names_the_deciding_rules(client: TestClient[Any], auth: Auth, personas: list[dict[str, Any]]) -> None:
    dana = _persona(personas, "dana")
    body = {"subject": dana["subject"], "groups": dana["groups"], "document_id": dana["cannot_read"][0]}
    r = client.post("/v1/admin/explain", json=body, headers=auth("root", ["gateway-admins"]))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["allowed"] is False and out["decision"] == "deny" and out["reason"]


def _titles(services: Services) -> list[tuple[str, str]]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from gateway.ingest.models import DocumentRow

    with Session(services.engine) as s:
        return [(r.document_id, r.title) for r in s.execute(select(DocumentRow)).scalars()]


def test_a_tenant_scoped_admin_cannot_explain_another_tenants_documents(
    client: TestClient[Any], auth: Auth, services: Services
) -> None:
    from gateway.authz.service import PolicyRule

    services.policy.add_rule(PolicyRule("g", ("user:gadmin", "role:admin", "globex")), actor="test")
    body = {"subject": "alice", "groups": ["engineering"], "document_id": "eng-oncall-rotation", "tenant": TENANT}
    r = client.post("/v1/admin/explain", json=body, headers=auth("gadmin", [], tenant="globex"))
    assert r.status_code == 403
    same_tenant = {**body, "tenant": "globex"}
    assert (
        client.post("/v1/admin/explain", json=same_tenant, headers=auth("gadmin", [], tenant="globex")).status_code
        == 404
    )
