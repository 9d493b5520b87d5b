"""Tenant-scoped administration and separation of duties, through HTTP (issue 7, items 1, 3, 6)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from gateway.app import create_app
from gateway.audit.visibility import REDACTED
from gateway.auth.dev import mint_dev_token
from gateway.authz.service import PolicyRule
from gateway.deps import Services, build_services
from tests.e2e.conftest import TENANT, make_settings

Auth = Callable[..., dict[str, str]]
FINANCE_READ = ["group:staff", "northwind", "collection:finance", "read", "allow"]


def _rows(services: Services, tenant: str, **filters: Any) -> list[dict[str, Any]]:
    return services.audit.search(tenant=tenant, limit=50, **filters)


@pytest.fixture
def contoso_admin(services: Services, auth: Auth) -> dict[str, str]:
    """An administrator of tenant contoso only (its own IdP's gateway-admins group)."""
    return auth("cadmin", ["gateway-admins"], tenant="contoso")


def test_a_tenant_admin_cannot_grant_in_another_tenant_and_the_attempt_is_audited_there(
    client: TestClient[Any], services: Services, auth: Auth, contoso_admin: dict[str, str]
) -> None:
    before = services.policy.version
    r = client.post("/v1/admin/policies", json={"ptype": "p", "rule": FINANCE_READ}, headers=contoso_admin)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert services.policy.version == before
    carol_staff = auth("dave", ["staff"])
    hits = client.post("/v1/search", json={"query": "budget", "collections": ["finance"]}, headers=carol_staff)
    assert hits.json()["hits"] == []
    refused = _rows(services, TENANT, subject="cadmin", kind="admin")
    assert [(r["action"], r["status"]) for r in refused] == [("policy.add", "refused")]
    assert refused[0]["details"]["actor_tenant"] == "contoso"


@pytest.mark.parametrize(
    "rule",
    [
        ["user:cadmin", "role:admin", "*"],
        ["group:gateway-admins", "role:admin", "northwind"],
    ],
)
def test_a_tenant_admin_cannot_escalate_through_star_or_foreign_g_lines(
    client: TestClient[Any], services: Services, contoso_admin: dict[str, str], rule: list[str]
) -> None:
    r = client.post("/v1/admin/policies", json={"ptype": "g", "rule": rule}, headers=contoso_admin)
    assert r.status_code == 403
    assert PolicyRule("g", tuple(rule)) not in services.policy.list_rules()
    assert _rows(services, rule[2], subject="cadmin")[0]["status"] == "refused"


def test_within_its_own_tenant_the_admin_changes_policy_and_the_row_is_there(
    client: TestClient[Any], services: Services, contoso_admin: dict[str, str]
) -> None:
    rule = ["group:staff", "contoso", "collection:wiki", "read", "allow"]
    r = client.post("/v1/admin/policies", json={"ptype": "p", "rule": rule}, headers=contoso_admin)
    assert r.status_code == 201 and r.json() == {"added": True, "tenant": "contoso"}
    row = _rows(services, "contoso", subject="cadmin", kind="admin")[0]
    assert (row["action"], row["status"], row["details"]["changed"]) == ("policy.add", "ok", True)


def test_listing_shows_the_rules_of_one_tenant_and_another_tenant_is_refused(
    client: TestClient[Any], contoso_admin: dict[str, str], auth: Auth
) -> None:
    own = client.get("/v1/admin/policies", headers=contoso_admin).json()
    assert own["tenant"] == "contoso" and all("northwind" not in r["rule"] for r in own["rules"])
    northwind_admin = auth("root", ["gateway-admins"])
    theirs = client.get("/v1/admin/policies", headers=northwind_admin).json()["rules"]
    assert ["group:finance", "northwind", "collection:finance", "read", "allow"] in [r["rule"] for r in theirs]
    assert client.get("/v1/admin/policies?tenant=northwind", headers=contoso_admin).status_code == 403
    assert client.get("/v1/admin/policies?tenant=*", headers=contoso_admin).status_code == 403
    assert client.get("/v1/admin/audit?tenant=northwind", headers=contoso_admin).status_code == 403


@pytest.fixture
def platform(data_dir: Path) -> Iterator[tuple[TestClient[Any], Services]]:
    """The same data, served with GATEWAY_PLATFORM_TENANT=ops."""
    services = build_services(make_settings(data_dir, platform_tenant="ops"))
    with TestClient(app=create_app(services=services)) as client:
        yield client, services
    services.close()


def test_a_platform_admin_administers_another_tenant_and_both_tenants_are_named(
    platform: tuple[TestClient[Any], Services],
) -> None:
    client, services = platform
    token = mint_dev_token(services.settings, "pat", ["gateway-admins"], tenant="ops", ttl_seconds=60)
    headers = {"Authorization": f"Bearer {token}"}
    rule = ["group:staff", "northwind", "collection:legal", "read", "allow"]
    assert client.post("/v1/admin/policies", json={"ptype": "p", "rule": rule}, headers=headers).status_code == 201
    row = _rows(services, TENANT, subject="pat", kind="admin")[0]
    assert (row["tenant"], row["details"]["actor_tenant"], row["status"]) == (TENANT, "ops", "ok")
    star = ["user:pat", "role:admin", "*"]
    assert client.post("/v1/admin/policies", json={"ptype": "g", "rule": star}, headers=headers).status_code == 201
    # Another tenant's own admins still cannot reach outside their tenant.
    other = mint_dev_token(services.settings, "cadmin", ["gateway-admins"], tenant="contoso", ttl_seconds=60)
    rule2 = {"ptype": "p", "rule": ["group:staff", "ops", "collection:x", "read", "allow"]}
    assert (
        client.post("/v1/admin/policies", json=rule2, headers={"Authorization": f"Bearer {other}"}).status_code == 403
    )


def test_admin_route_refusals_are_audited_in_the_callers_tenant(
    client: TestClient[Any], services: Services, auth: Auth
) -> None:
    alice = auth("alice", ["staff", "engineering"])
    assert client.get("/v1/admin/policies", headers=alice).status_code == 403
    assert client.get("/v1/admin/audit", headers=alice).status_code == 403
    assert client.post("/v1/admin/audit/verify", headers=alice).status_code == 403
    actions = {(r["action"], r["status"]) for r in _rows(services, TENANT, subject="alice")}
    assert {("policy.list", "refused"), ("audit.read", "refused"), ("audit.verify", "refused")} <= actions


def test_an_unauthenticated_request_leaves_no_row_but_a_metric(client: TestClient[Any], services: Services) -> None:
    before = services.audit.verify().rows_checked
    for _ in range(5):
        assert client.get("/v1/admin/audit", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert services.audit.verify().rows_checked == before
    lines = [ln for ln in client.get("/metrics").text.splitlines() if ln.startswith("gateway_auth_failures_total{")]
    assert sum(float(ln.rsplit(" ", 1)[1]) for ln in lines) == 5.0


def test_audit_content_is_for_auditors_admins_see_metadata_and_every_read_is_audited(
    client: TestClient[Any], services: Services, auth: Auth
) -> None:
    question = "What is the salary range for a Senior Software Engineer?"
    bob = auth("bob", ["staff", "hr", "hr-leads"])
    assert client.post("/v1/ask", json={"question": question}, headers=bob).json()["answered"]

    def asked(headers: dict[str, str]) -> dict[str, Any]:
        rows = client.get("/v1/admin/audit?kind=ask&subject=bob", headers=headers).json()["rows"]
        return dict(rows[0])

    admin_view = asked(auth("root", ["gateway-admins"]))
    assert admin_view["question"] == REDACTED and admin_view["answer"] == REDACTED
    assert admin_view["content_redacted"] and all("title" not in c for c in admin_view["citations"])
    assert admin_view["citations"][0]["document_id"] == "hr-restricted-salary-bands-2025"  # metadata stays
    auditor_view = asked(auth("ivy", ["gateway-auditors"]))
    assert auditor_view["question"] == question and auditor_view["citations"][0]["title"]
    reads = _rows(services, TENANT, kind="read")
    assert {(r["subject"], r["details"]["content"]) for r in reads} >= {("root", False), ("ivy", True)}
