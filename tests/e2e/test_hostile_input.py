"""Hostile input gets a clear 400 problem, never a 500 (issue 7, items 16, 18, 19)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from gateway.deps import Services
from tests.e2e.conftest import TENANT

Auth = Callable[..., dict[str, str]]


def _problem(r: Any, status: int = 400) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["request_id"] == r.headers["x-request-id"] and "Traceback" not in r.text
    return body


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/search", '{"query": ' + "[" * 1200 + "]" * 1200 + "}"),
        ("/v1/search", "[" * 5000 + "]" * 5000),
        ("/v1/ask", '{"question": "x", "k": ' + "[" * 1000 + "]" * 1000 + "}"),
        ("/v1/documents", '{"id": "a", "collection": "public", "acl": ' + '{"allow": ' * 1000 + "[]" + "}" * 1001),
        ("/v1/admin/policies", '{"ptype": "p", "rule": ' + "[" * 1000 + "]" * 1000 + "}"),
    ],
)
def test_deeply_nested_json_is_a_400(client: TestClient[Any], auth: Auth, path: str, body: str) -> None:
    headers = {**auth("root", ["gateway-admins"]), "Content-Type": "application/json"}
    _problem(client.post(path, content=body, headers=headers))


@pytest.mark.parametrize(
    "body",
    [
        {"query": "leave", "k": "5"},
        {"query": "leave", "one_per_document": "yes"},
        {"query": 5},
        {"query": "leave", "collections": "engineering"},
    ],
)
def test_values_of_the_wrong_type_are_a_400_not_coerced(
    client: TestClient[Any], auth: Auth, body: dict[str, Any]
) -> None:
    _problem(client.post("/v1/search", json=body, headers=auth("alice", ["engineering"])))


@pytest.mark.parametrize("query", ["before=999999999999999999999999", "before=-1", "limit=0", "limit=100000"])
def test_out_of_range_audit_parameters_are_a_400(client: TestClient[Any], auth: Auth, query: str) -> None:
    _problem(client.get(f"/v1/admin/audit?{query}", headers=auth("ivy", ["gateway-auditors"])))


def test_a_question_over_the_configured_limit_is_refused_and_audited(
    client: TestClient[Any], services: Services, auth: Auth
) -> None:
    limit = services.settings.max_question_chars
    r = client.post("/v1/ask", json={"question": "x" * (limit + 1)}, headers=auth("alice", ["engineering"]))
    _problem(r)
    row = services.audit.search(tenant=TENANT, subject="alice", limit=1)[0]
    assert (row["kind"], row["status"], row["details"]["error"]) == ("ask", "refused", "invalid_request")


@pytest.mark.parametrize(("method", "path", "status"), [("GET", "/nowhere", 404), ("PATCH", "/v1/search", 405)])
def test_unmatched_routes_carry_a_request_id(client: TestClient[Any], method: str, path: str, status: int) -> None:
    _problem(client.request(method, path), status)


def test_readiness_follows_audit_writability(client: TestClient[Any], services: Services) -> None:
    assert client.get("/readyz").status_code == 200
    with services.engine.begin() as conn:
        conn.execute(text("CREATE TRIGGER audit_down BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'no'); END"))
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["database"] == "audit_unavailable"


def test_the_registry_counts_with_count(services: Services) -> None:
    from sqlalchemy import event

    statements: list[str] = []
    event.listen(services.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    assert services.documents.registry.count_indexed(TENANT) > 30
    assert any("count(" in s.lower() for s in statements)
