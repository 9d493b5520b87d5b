"""Rate limits per subject and per tenant: 429 problem with Retry-After, each refusal audited once.

In-process memory by default; Redis (the real one on 127.0.0.1:6379) shares the budget between
gateway processes, here two apps on one data dir.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from gateway.app import create_app
from gateway.auth.dev import mint_dev_token
from gateway.deps import Services, build_services, provide_retriever
from tests.e2e.conftest import TENANT, make_settings

REDIS = "redis://127.0.0.1:6379/0"


def _services(data_dir: Path, *, read_only: bool = False, **limits: Any) -> Services:
    settings = make_settings(data_dir, limits={"subject_rate": "3/minute", "tenant_rate": "5/minute", **limits})
    return build_services(settings, retriever=provide_retriever(settings, read_only=read_only))


def _headers(services: Services, subject: str, tenant: str = TENANT) -> dict[str, str]:
    token = mint_dev_token(services.settings, subject, ["staff", "engineering"], tenant=tenant, ttl_seconds=600)
    return {"Authorization": f"Bearer {token}"}


def _rate_limited_rows(services: Services, subject: str) -> list[dict[str, Any]]:
    rows = services.audit.search(tenant=TENANT, subject=subject, limit=100)
    return [r for r in rows if r["status"] == "refused" and r["details"].get("error") == "rate_limited"]


@pytest.fixture
def limited(data_dir: Path) -> Iterator[tuple[Services, TestClient[Any]]]:
    services = _services(data_dir)
    with TestClient(app=create_app(services=services)) as client:
        yield services, client
    services.close()


def test_a_subject_over_its_limit_gets_429_with_retry_after_and_one_audit_row(
    limited: tuple[Services, TestClient[Any]],
) -> None:
    services, client = limited
    alice = _headers(services, "alice")
    statuses = [client.post("/v1/search", json={"query": "on-call"}, headers=alice).status_code for _ in range(3)]
    refused = client.post("/v1/ask", json={"question": "on-call rotation?"}, headers=alice)
    assert statuses == [200, 200, 200]
    assert refused.status_code == 429 and refused.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    body = refused.json()
    assert body["code"] == "rate_limited" and body["request_id"] == refused.headers["x-request-id"]
    rows = _rate_limited_rows(services, "alice")
    assert [(r["kind"], r["request_id"]) for r in rows] == [("ask", body["request_id"])]


def test_the_tenant_budget_is_shared_by_its_subjects(limited: tuple[Services, TestClient[Any]]) -> None:
    services, client = limited
    for subject in ("alice", "alice", "bob", "bob", "carol"):  # 5 = the tenant's budget, nobody over their own
        assert client.post("/v1/search", json={"query": "x"}, headers=_headers(services, subject)).status_code == 200
    refused = client.post("/v1/search", json={"query": "x"}, headers=_headers(services, "dave"))
    assert refused.status_code == 429 and "tenant" in refused.json()["detail"]
    assert len(_rate_limited_rows(services, "dave")) == 1


def test_another_tenant_has_its_own_budget(limited: tuple[Services, TestClient[Any]]) -> None:
    services, client = limited
    for _ in range(3):
        client.post("/v1/search", json={"query": "x"}, headers=_headers(services, "alice"))
    assert client.post("/v1/search", json={"query": "x"}, headers=_headers(services, "alice")).status_code == 429
    other = client.post("/v1/search", json={"query": "x"}, headers=_headers(services, "alice", tenant="contoso"))
    assert other.status_code != 429


def test_redis_shares_the_budget_between_processes(data_dir: Path) -> None:
    prefix = f"gateway-test-{uuid.uuid4().hex}"
    with ExitStack() as stack:
        clients = []
        for reader in (False, True):  # two gateways (two service graphs, two limiters) on one Redis
            services = _services(data_dir, read_only=reader, redis_url=REDIS, key_prefix=prefix)
            stack.callback(services.close)
            clients.append((services, stack.enter_context(TestClient(app=create_app(services=services)))))
        assert clients[0][1].get("/readyz").json()["checks"]["rate_limits"] == "ok"
        statuses = [
            client.post("/v1/search", json={"query": "x"}, headers=_headers(svc, "alice")).status_code
            for svc, client in (clients * 2)
        ]
    assert statuses == [200, 200, 200, 429]


def test_an_unreachable_redis_refuses_with_503_and_audits_it(data_dir: Path) -> None:
    services = _services(data_dir, redis_url="redis://127.0.0.1:1/0")  # nothing listens on port 1
    with TestClient(app=create_app(services=services)) as client:
        r = client.post("/v1/ask", json={"question": "on-call?"}, headers=_headers(services, "alice"))
        ready = client.get("/readyz")
    assert r.status_code == 503 and r.json()["code"] == "rate_limit_unavailable" and "detail" not in r.json()
    assert ready.status_code == 503 and ready.json()["checks"]["rate_limits"] == "rate_limit_unavailable"
    row = services.audit.search(tenant=TENANT, subject="alice", limit=1)[0]
    assert (row["kind"], row["status"], row["details"]["error"]) == ("ask", "failed", "rate_limit_unavailable")
    services.close()


# -- the control budget: documents, administration, exports (everything but search and ask) ----------


@pytest.fixture
def control_limited(data_dir: Path) -> Iterator[tuple[Services, TestClient[Any]]]:
    services = _services(data_dir, control_subject_rate="2/minute", control_tenant_rate="4/minute")
    with TestClient(app=create_app(services=services)) as client:
        yield services, client
    services.close()


def _rows_of(services: Services, subject: str) -> list[dict[str, Any]]:
    return [r for r in services.audit.search(tenant=TENANT, subject=subject, limit=100) if r["subject"] == subject]


_ADMIN = ("root", ["gateway-admins"])
_DOC = {"id": "limits-1", "title": "Failover", "collection": "engineering", "text": "The cluster fails over."}
_CONTROL_CALLS: list[tuple[str, str, str, dict[str, Any] | None, str, str]] = [
    # (name, method, path, json body, audit kind, audit action)
    ("put", "POST", "/v1/documents", _DOC, "ingest", "document.put"),
    ("get", "GET", "/v1/documents/limits-1", None, "read", "document.get"),
    ("delete", "DELETE", "/v1/documents/limits-1", None, "delete", "document.delete"),
    ("policies", "GET", "/v1/admin/policies", None, "admin", "policy.list"),
    ("quarantine", "GET", "/v1/admin/quarantine", None, "admin", "quarantine.list"),
]


@pytest.mark.parametrize(
    ("name", "method", "path", "body", "kind", "action"), _CONTROL_CALLS, ids=[c[0] for c in _CONTROL_CALLS]
)
def test_documents_and_admin_routes_spend_the_control_budget_and_audit_the_429_once(
    control_limited: tuple[Services, TestClient[Any]],
    name: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    kind: str,
    action: str,
) -> None:
    """Before: only search and ask were limited; a subject could upload, delete and call admin routes
    without bound (docs/security.md, known gaps)."""
    services, client = control_limited
    root = {"Authorization": "Bearer " + mint_dev_token(services.settings, *_ADMIN, tenant=TENANT, ttl_seconds=600)}
    for _ in range(2):  # the subject's budget: whatever each call answers, it is not 429
        assert client.request(method, path, json=body, headers=root).status_code != 429
    before = len(_rows_of(services, "root"))
    refused = client.request(method, path, json=body, headers=root)
    assert refused.status_code == 429 and refused.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    rows = _rows_of(services, "root")
    assert len(rows) == before + 1  # exactly one row for the refusal
    row = rows[0]
    assert (row["kind"], row["status"], row["action"], row["request_id"]) == (
        kind, "refused", action, refused.json()["request_id"],
    )  # fmt: skip
    assert "rate_limited" in (row["details"].get("error"), row["details"].get("reason"))


def test_a_refused_upload_changes_nothing(control_limited: tuple[Services, TestClient[Any]]) -> None:
    services, client = control_limited
    root = {"Authorization": "Bearer " + mint_dev_token(services.settings, *_ADMIN, tenant=TENANT, ttl_seconds=600)}
    for i in range(2):
        doc = {**_DOC, "id": f"ok-{i}"}
        assert client.post("/v1/documents", json=doc, headers=root).status_code == 201
    assert client.post("/v1/documents", json={**_DOC, "id": "over"}, headers=root).status_code == 429
    assert services.documents.registry.get(TENANT, "over") is None
    assert services.metrics.registry.get_sample_value("gateway_rate_limited_total", {"scope": "subject"}) == 1
    assert not [
        r for r in _rows_of(services, "root") if r["details"].get("document_id") == "over" and r["status"] == "ok"
    ]


def test_the_control_budget_is_separate_from_the_query_budget(
    control_limited: tuple[Services, TestClient[Any]],
) -> None:
    services, client = control_limited
    alice = _headers(services, "alice")
    for _ in range(2):
        client.get("/v1/documents/nothing-here", headers=alice)  # 404s, each spends the control budget
    assert client.get("/v1/documents/nothing-here", headers=alice).status_code == 429
    assert client.post("/v1/search", json={"query": "on-call"}, headers=alice).status_code == 200
    bob = _headers(services, "bob")
    for _ in range(3):  # the query budget (3/minute) is still bob's own, untouched by alice's documents
        assert client.post("/v1/search", json={"query": "x"}, headers=bob).status_code == 200


def test_a_forbidden_admin_call_spends_the_budget_too(control_limited: tuple[Services, TestClient[Any]]) -> None:
    """Refusals are not free: a caller probing admin routes it may not use is limited like anyone."""
    services, client = control_limited
    alice = _headers(services, "alice")
    assert [client.get("/v1/admin/policies", headers=alice).status_code for _ in range(3)] == [403, 403, 429]
    rows = _rows_of(services, "alice")
    assert [(r["status"], r["details"].get("error", r["details"].get("reason"))) for r in rows[:3]] == [
        ("refused", "rate_limited"), ("refused", "not_granted"), ("refused", "not_granted"),
    ]  # fmt: skip


def test_the_control_budget_of_a_tenant_is_shared(control_limited: tuple[Services, TestClient[Any]]) -> None:
    services, client = control_limited
    for subject in ("alice", "alice", "bob", "bob"):  # 4 = the tenant's control budget
        assert client.get("/v1/documents/none", headers=_headers(services, subject)).status_code == 404
    refused = client.get("/v1/documents/none", headers=_headers(services, "carol"))
    assert refused.status_code == 429 and "tenant" in refused.json()["detail"]


def test_an_unreachable_redis_fails_admin_calls_closed_and_audits_them(data_dir: Path) -> None:
    services = _services(data_dir, redis_url="redis://127.0.0.1:1/0")
    root = {"Authorization": "Bearer " + mint_dev_token(services.settings, *_ADMIN, tenant=TENANT, ttl_seconds=600)}
    with TestClient(app=create_app(services=services)) as client:
        admin = client.get("/v1/admin/policies", headers=root)
        upload = client.post("/v1/documents", json=_DOC, headers=root)
    assert admin.status_code == 503 and admin.json()["code"] == "rate_limit_unavailable"
    assert upload.status_code == 503 and upload.json()["code"] == "rate_limit_unavailable"
    rows = _rows_of(services, "root")
    assert [(r["kind"], r["status"], r["details"]["error"]) for r in rows[:2]] == [
        ("ingest", "failed", "rate_limit_unavailable"), ("admin", "failed", "rate_limit_unavailable"),
    ]  # fmt: skip
    assert services.documents.registry.get(TENANT, _DOC["id"]) is None
    services.close()
