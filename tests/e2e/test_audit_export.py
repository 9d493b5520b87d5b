"""``GET /v1/audit/export`` through the app: tenant-scoped, content by right, audited once, verifiable offline."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from gateway.app import create_app
from gateway.audit.keys import Keyring
from gateway.audit.offline import verify_export
from gateway.deps import Services

Auth = Callable[..., dict[str, str]]
AUDITOR = ("ines", ["gateway-auditors"])
ADMIN = ("root", ["gateway-admins"])
QUESTION = "How long is the on-call rotation?"


def _ask(client: TestClient[Any], auth: Auth) -> None:
    response = client.post("/v1/ask", json={"question": QUESTION}, headers=auth("alice", ["staff", "engineering"]))
    assert response.status_code == 200


def _export(client: TestClient[Any], auth: Auth, who: tuple[str, list[str]], query: str = "") -> Any:
    return client.get(f"/v1/audit/export?format=jsonl{query}", headers=auth(*who))


def _verify_offline(client: TestClient[Any], auth: Auth, who: tuple[str, list[str]], response: Any, tmp: Path) -> Any:
    export_id = response.headers["x-audit-export-id"]
    manifest = client.get(f"/v1/audit/exports/{export_id}/manifest", headers=auth(*who))
    keys = client.get("/v1/audit/public-key", headers=auth(*who))
    assert manifest.status_code == 200 and keys.status_code == 200
    (tmp / "export.jsonl").write_bytes(response.content)
    return verify_export(tmp / "export.jsonl", manifest.json(), Keyring.from_jwks(keys.json()))


def test_an_auditor_exports_content_and_verifies_it_offline(
    client: TestClient[Any], auth: Auth, tmp_path: Path
) -> None:
    _ask(client, auth)
    response = _export(client, auth, AUDITOR)
    assert response.status_code == 200 and response.headers["x-audit-content"] == "full"
    rows = [json.loads(line) for line in response.text.splitlines()]
    assert any(r["question"] == QUESTION for r in rows)
    report = _verify_offline(client, auth, AUDITOR, response, tmp_path)
    assert report.ok, report.problems
    assert report.rows == len(rows)


def test_an_admin_exports_metadata_only_and_it_still_verifies(
    client: TestClient[Any], auth: Auth, tmp_path: Path
) -> None:
    _ask(client, auth)
    response = _export(client, auth, ADMIN, "&kind=ask")
    assert response.status_code == 200 and response.headers["x-audit-content"] == "metadata"
    assert QUESTION not in response.text
    rows = [json.loads(line) for line in response.text.splitlines()]
    assert rows and all(r["content_redacted"] and r["content_hash"] and r["kind"] == "ask" for r in rows)
    report = _verify_offline(client, auth, ADMIN, response, tmp_path)
    assert report.ok, report.problems


def test_the_export_is_audited_exactly_once_before_its_first_byte(
    client: TestClient[Any], auth: Auth, services: Services
) -> None:
    response = _export(client, auth, AUDITOR)
    export_id = response.headers["x-audit-export-id"]
    own = [json.loads(line) for line in response.text.splitlines() if '"audit.export"' in line]
    assert [r["details"]["export_id"] for r in own] == [export_id]  # the body already holds its own row
    rows = services.audit.search(tenant="northwind", subject="ines", kind="read", limit=50, before_sequence=None)
    assert [r["action"] for r in rows] == ["audit.export"]


def test_an_export_stays_in_its_tenant(client: TestClient[Any], auth: Auth, services: Services) -> None:
    refused = _export(client, auth, ADMIN, "&tenant=contoso")
    assert refused.status_code == 403
    rows = services.audit.search(tenant="contoso", subject="root", kind="read", limit=5, before_sequence=None)
    assert [(r["action"], r["status"]) for r in rows] == [("audit.export", "refused")]
    _ask(client, auth)
    allowed = _export(client, auth, AUDITOR, "&tenant=northwind")
    assert {json.loads(line)["tenant"] for line in allowed.text.splitlines()} == {"northwind"}


def test_a_manifest_is_served_only_in_its_tenant(client: TestClient[Any], auth: Auth) -> None:
    export_id = _export(client, auth, AUDITOR).headers["x-audit-export-id"]
    assert client.get(f"/v1/audit/exports/{export_id}/manifest", headers=auth(*AUDITOR)).status_code == 200
    other = auth("ines", ["gateway-auditors"], tenant="contoso")
    assert client.get(f"/v1/audit/exports/{export_id}/manifest", headers=other).status_code == 404
    assert client.get("/v1/audit/export").status_code == 401


def test_readiness_shows_anchoring_and_shutdown_signs_the_head(services: Services, auth: Auth) -> None:
    with TestClient(app=create_app(services=services)) as c:
        assert c.get("/readyz").json()["checks"]["anchors"] == "ok"
        _ask(c, auth)
        head = services.audit.head()
    newest = services.anchorer.store.latest()
    assert head is not None and newest is not None
    assert (newest.kind, newest.sequence) == ("shutdown", head.sequence)


def test_admin_verify_checks_the_chain_against_the_anchors(
    client: TestClient[Any], auth: Auth, services: Services
) -> None:
    _ask(client, auth)
    deadline = time.monotonic() + 10
    while services.anchorer.store.latest() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # a chain's first row is anchored at once, by the anchorer's thread
    result = client.post("/v1/admin/audit/verify", headers=auth(*AUDITOR)).json()
    assert result["ok"] and result["anchors_checked"] >= 1 and result["last_anchor_sequence"] >= 1
