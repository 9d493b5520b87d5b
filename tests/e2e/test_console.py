"""The console over HTTP (Litestar's client on the real app): sessions, CSRF, the role gate, headers,
policy edits with their what-if, audit visibility and inert rendering. The browser tests
(test_console_browser.py) drive the same pages in Chromium."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from litestar.stores.memory import MemoryStore
from litestar.testing import TestClient
from pydantic import SecretStr

from gateway.app import create_app
from gateway.authz.rules import PolicyRule
from gateway.console.models import MODEL_ADMIN_FACTORY
from gateway.console.session import SessionStore, new_session, provide_session_store
from gateway.deps import Services
from tests.e2e.conftest import TENANT
from tests.e2e.console_support import audit_rows, csrf_of, dev_login, head

Auth = Callable[..., dict[str, str]]
PAGES = [
    "/console/",
    "/console/policies",
    "/console/explain",
    "/console/quarantine",
    "/console/audit",
    "/console/models",
]
HR_RULE = f"user:alice, {TENANT}, collection:hr, read, allow"
ALICE = ["engineering", "sre", "staff"]


def _hr_hits(client: TestClient[Any], auth: Auth) -> list[str]:
    body = {"query": "salary bands hiring process performance review", "k": 20}
    hits = client.post("/v1/search", json=body, headers=auth("alice", ALICE)).json()["hits"]
    return [h["document_id"] for h in hits if h["collection"] == "hr"]


def test_every_page_renders_for_an_admin_under_a_strict_policy(client: TestClient[Any]) -> None:
    dev_login(client, "root")
    for path in [*PAGES, "/console/login", "/console/static/console.css"]:
        r = client.get(path)
        assert r.status_code == 200, (path, r.text)
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
        assert not re.search(r"<script(?![^>]*\bsrc=)", r.text), ("inline script", path)
        assert not re.search(r"\sstyle=|<style", r.text), ("inline style", path)


def test_a_page_without_a_session_sends_the_browser_to_login(client: TestClient[Any]) -> None:
    r = client.get("/console/policies", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    assert client.post("/console/policies/apply", data={}).status_code == 401


def test_the_session_cookie_is_httponly_lax_and_secure_over_https(services: Services) -> None:
    with TestClient(app=create_app(services=services), base_url="https://console.test") as https:
        page = https.get("/console/login/dev/")
        r = https.post("/console/login/dev/", data={"_csrf": csrf_of(page.text), "subject": "root"},
                       follow_redirects=False)  # fmt: skip
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("__Host-gateway_console=")
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" in cookie and "Path=/" in cookie
    with TestClient(app=create_app(services=services), base_url="http://console.test") as http:
        cookie = dev_login(http, "root").cookies.get("gateway_console")
        assert cookie is not None


def test_logging_in_starts_a_new_session_id(client: TestClient[Any]) -> None:
    client.get("/console/login/dev/")
    before = client.cookies.get("gateway_console")
    dev_login(client, "root")
    after = client.cookies.get("gateway_console")
    assert before and after and before != after


def test_a_non_admin_is_refused_with_a_valid_session_and_audited(client: TestClient[Any], services: Services) -> None:
    start = head(services)
    dev_login(client, "alice")
    for path in ("/console/", "/console/policies", "/console/audit"):
        assert client.get(path).status_code == 403
    refused = audit_rows(services, "console.access", since=start)
    assert len(refused) == 3 and {r["status"] for r in refused} == {"refused"}
    assert {r["subject"] for r in refused} == {"alice"}


CHANGES = [
    ("/console/policies/preview", {"op": "add", "ptype": "p", "rule": HR_RULE}),
    ("/console/policies/apply", {"op": "add", "ptype": "p", "rule": HR_RULE, "expected_version": "2"}),
    ("/console/quarantine/1/decide", {"decision": "approve"}),
    ("/console/audit/verify", {}),
    ("/console/logout", {}),
]


@pytest.mark.parametrize("token", ["missing", "wrong"])
def test_a_state_changing_request_without_its_csrf_token_is_refused(
    client: TestClient[Any], services: Services, token: str
) -> None:
    dev_login(client, "root")
    version, start = services.policy.version, head(services)
    for path, form in CHANGES:
        data = form if token == "missing" else {**form, "_csrf": "not-the-token"}
        r = client.post(path, data=data)
        assert r.status_code == 403 and "CSRF" in r.text, path
    assert services.policy.version == version
    assert audit_rows(services, "policy.add", since=start) == []
    assert audit_rows(services, "policy.whatif", since=start) == []
    assert client.get("/console/").status_code == 200  # still logged in: logout needed its token too


def test_the_csrf_token_also_works_as_a_header(client: TestClient[Any]) -> None:
    page = dev_login(client, "root").get("/console/policies")
    form = {"op": "add", "ptype": "p", "rule": HR_RULE}
    r = client.post("/console/policies/preview", data=form, headers={"X-CSRF-Token": csrf_of(page.text)})
    assert r.status_code == 200


def test_the_development_login_does_not_exist_without_the_development_issuer(services: Services) -> None:
    settings = services.settings.model_copy(update={"dev_issuer": False})
    with TestClient(app=create_app(settings, services=services)) as c:
        assert c.get("/console/login/dev/").status_code == 404
        assert c.post("/console/login/dev/", data={"subject": "root"}).status_code in (404, 405)
        assert "Development login" not in c.get("/console/login").text


def test_a_grant_is_previewed_saved_audited_once_and_changes_search(
    client: TestClient[Any], services: Services, auth: Auth
) -> None:
    assert _hr_hits(client, auth) == []  # alice is now known to the gateway (her search is audited)
    doc = {"id": "hr-xss", "collection": "hr", "title": "<script>alert(1)</script>Pay scales", "text": "Pay scales."}
    assert client.post("/v1/documents", json=doc, headers=auth("root", ["gateway-admins"])).status_code == 201
    start = head(services)
    page = dev_login(client, "root").get("/console/policies")
    assert [r["status"] for r in audit_rows(services, "policy.list", since=start)] == ["ok"]
    csrf = csrf_of(page.text)
    preview = client.post("/console/policies/preview", data={"_csrf": csrf, "op": "add", "ptype": "p", "rule": HR_RULE})
    assert preview.status_code == 200
    assert "user:alice" in preview.text and "gain read on hr: user:alice" in preview.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;Pay scales" in preview.text and "<script>alert" not in preview.text
    assert services.policy.version == 2 and _hr_hits(client, auth) == []  # nothing saved by a preview
    assert len(audit_rows(services, "policy.whatif", since=start)) == 1
    start = head(services)
    form = {"_csrf": csrf, "op": "add", "ptype": "p", "rule": HR_RULE, "expected_version": "2"}
    saved = client.post("/console/policies/apply", data=form, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == "/console/policies?done=added"
    rows = audit_rows(services, "policy.add", since=start)
    assert len(rows) == 1 and rows[0]["details"]["via"] == "console" and rows[0]["subject"] == "root"
    assert _hr_hits(client, auth)  # alice's search now returns hr documents

    history = client.get("/console/policies").text
    assert f'<input type="hidden" name="rollback_of" value="{rows[0]["sequence"]}">' in history
    back = {**form, "op": "remove", "expected_version": str(services.policy.version),
            "rollback_of": str(rows[0]["sequence"])}  # fmt: skip
    assert client.post("/console/policies/apply", data=back, follow_redirects=False).status_code == 303
    removed = audit_rows(services, "policy.remove", since=start)
    assert len(removed) == 1 and removed[0]["details"]["rollback_of"] == rows[0]["sequence"]
    assert _hr_hits(client, auth) == []


def test_saving_a_stale_preview_is_refused(client: TestClient[Any], services: Services) -> None:
    page = dev_login(client, "root").get("/console/policies")
    start = head(services)
    form = {"_csrf": csrf_of(page.text), "op": "add", "ptype": "p", "rule": HR_RULE, "expected_version": "1"}
    assert client.post("/console/policies/apply", data=form).status_code == 409
    assert [r["status"] for r in audit_rows(services, "policy.add", since=start)] == ["refused"]
    assert PolicyRule("p", tuple(f.strip() for f in HR_RULE.split(","))) not in services.policy.list_rules()


def test_an_edit_in_another_tenant_is_refused(client: TestClient[Any], services: Services) -> None:
    page = dev_login(client, "root").get("/console/policies")
    form = {
        "_csrf": csrf_of(page.text),
        "op": "add",
        "ptype": "p",
        "rule": "group:staff, contoso, collection:hr, read, allow",
    }
    assert client.post("/console/policies/preview", data=form).status_code == 400
    form |= {"expected_version": str(services.policy.version)}
    assert client.post("/console/policies/apply", data=form).status_code in (400, 403)
    assert services.policy.version == 2


def test_explain_names_the_rule_and_counts_what_a_user_sees(client: TestClient[Any], services: Services) -> None:
    start = head(services)
    q = "subject=alice&groups=engineering,sre,staff&document_id=eng-oncall-rotation"
    r = dev_login(client, "root").get(f"/console/explain?{q}")
    assert r.status_code == 200
    assert "allow" in r.text and "group:engineering, northwind, collection:engineering, read, allow" in r.text
    assert re.search(r"<td>hr</td><td>0</td><td>\d+</td>", r.text)
    assert [row["status"] for row in audit_rows(services, "policy.explain", since=start)] == ["ok"]


def test_audit_content_is_for_auditors_and_rendered_inert(
    client: TestClient[Any], services: Services, auth: Auth
) -> None:
    question = '<script>alert("xss")</script><img src=x onerror=alert(1)> on-call stipend?'
    assert client.post("/v1/ask", json={"question": question}, headers=auth("alice", ALICE)).status_code == 200
    services.policy.add_rule(PolicyRule("g", ("user:carol", "role:auditor", TENANT)), actor="test")
    auditor = dev_login(client, "carol").get("/console/audit?kind=ask")
    assert auditor.status_code == 200
    assert "&lt;script&gt;alert(&#34;xss&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in auditor.text
    assert "<script>alert" not in auditor.text and "<img src=x" not in auditor.text
    client.cookies.clear()
    admin = dev_login(client, "root").get("/console/audit?kind=ask")
    assert "needs system:audit-content" in admin.text and "alert(" not in admin.text


def test_the_console_export_is_the_audited_export(client: TestClient[Any], services: Services) -> None:
    dev_login(client, "root")
    start = head(services)
    r = client.get("/console/audit/export?format=jsonl&kind=ask")
    assert r.status_code == 200 and r.headers["x-audit-content"] == "metadata"
    export_id = r.headers["x-audit-export-id"]
    assert len(audit_rows(services, "audit.export", since=start)) == 1
    manifest = client.get(f"/console/audit/exports/{export_id}/manifest")
    assert manifest.status_code == 200 and manifest.json()["signature"]


def test_sessions_end_after_the_idle_and_the_absolute_timeout() -> None:
    async def scenario() -> None:
        store = SessionStore(MemoryStore(), idle_seconds=1, absolute_seconds=60)
        sid = await store.create(new_session())
        assert await store.load(sid) is not None
        await asyncio.sleep(1.2)
        assert await store.load(sid) is None  # idle
        old = new_session(now=time.time() - 61)
        sid = await store.create(old)
        assert await store.load(sid) is None  # absolute, however recently used

    asyncio.run(scenario())


def test_logout_ends_the_session(client: TestClient[Any], services: Services) -> None:
    page = dev_login(client, "root").get("/console/")
    r = client.post("/console/logout", data={"_csrf": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    assert client.get("/console/", follow_redirects=False).status_code == 303
    assert audit_rows(services, "console.logout")


class FakeModelAdmin:
    """A registry with two adapters (one failed its gates); records what the console asked for."""

    def __init__(self) -> None:
        ok = {"pii_emission": {"passed": True}, "quality": True}
        common = {"name": "support", "base": "smollm2", "dataset_id": "ds1"}
        self.rows = [
            SimpleNamespace(id=1, version=1, status="passed", gates=ok, **common),
            SimpleNamespace(id=2, version=2, status="failed", gates={"canary": {"passed": False}}, **common),
        ]
        self.active: int | None = None
        self.calls: list[tuple[str, str]] = []

    def datasets(self, scope: Any) -> list[Any]:
        return [SimpleNamespace(id="ds1", created_by="root", created_at="2026-11-30")]

    def adapters(self, scope: Any) -> tuple[list[Any], int | None]:
        self.calls.append(("adapters", scope.tenant))
        return self.rows, self.active

    def activate(self, scope: Any, name: str, version: int | None) -> Any:
        self.calls.append(("activate", f"{scope.tenant}:{name}:{version}"))
        self.active = version
        return self.rows[0]

    def rollback(self, scope: Any) -> tuple[int | None, int | None]:
        self.calls.append(("rollback", scope.tenant))
        moved, self.active = (self.active, None), None
        return moved


def test_the_models_page_reads_the_adapter_registry(client: TestClient[Any]) -> None:
    r = dev_login(client, "root").get("/console/models/")
    assert r.status_code == 200 and 'id="models-not-configured"' not in r.text and "No datasets." in r.text
    page = client.get("/console/")
    assert client.post("/console/models/rollback", data={"_csrf": csrf_of(page.text)}).status_code == 404


def test_the_models_page_says_when_no_registry_is_configured(services: Services) -> None:
    app = create_app(services=services)
    del app.state[MODEL_ADMIN_FACTORY]
    with TestClient(app=app) as client:
        r = dev_login(client, "root").get("/console/models/")
        assert r.status_code == 200 and 'id="models-not-configured"' in r.text


def test_the_models_page_lists_gates_and_activates_through_the_registry(services: Services) -> None:
    fake = FakeModelAdmin()
    app = create_app(services=services)
    app.state[MODEL_ADMIN_FACTORY] = lambda _services: fake
    with TestClient(app=app) as client:
        dev_login(client, "root")
        page = client.get("/console/models/")
        assert page.status_code == 200
        assert "pii_emission: pass" in page.text and "canary: fail" in page.text
        form = {"_csrf": csrf_of(page.text), "name": "support", "version": "1"}
        assert client.post("/console/models/activate", data=form, follow_redirects=False).status_code == 303
        assert ("activate", f"{TENANT}:support:1") in fake.calls
        assert client.post("/console/models/rollback", data={"_csrf": form["_csrf"]}).status_code == 200
        assert ("rollback", TENANT) in fake.calls


def test_sessions_live_in_redis_when_configured(services: Services) -> None:
    settings = services.settings.model_copy(
        update={"console": services.settings.console.model_copy(
            update={"session_store": "redis", "redis_url": SecretStr("redis://127.0.0.1:6379/0"),
                    "idle_timeout_seconds": 30})}
    )  # fmt: skip
    store = provide_session_store(settings)

    async def scenario() -> None:
        session = new_session()
        session.subject, session.tenant = "root", TENANT
        sid = await store.create(session)
        loaded = await store.load(sid)
        assert loaded is not None and loaded.subject == "root"
        await store.delete(sid)
        assert await store.load(sid) is None

    asyncio.run(scenario())


def test_an_unavailable_policy_store_is_a_503_page_without_details(client: TestClient[Any], services: Services) -> None:
    dev_login(client, "root")
    services.policy.stale_after = -1.0  # the last good policy counts as too old: every decision refuses
    r = client.get("/console/policies")
    assert r.status_code == 503
    assert "Policy store unavailable" in r.text and "Please try again later." in r.text
    assert "Traceback" not in r.text and "PolicyUnavailable" not in r.text
