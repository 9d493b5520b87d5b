"""The console's single sign-on against oidc-provider-mock: authorization-code flow with PKCE,
state and nonce checked, the ID token verified with the API's JWKS code, RP-initiated logout."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from litestar.testing import TestClient

from gateway.app import create_app
from gateway.console.session import provide_session_store
from gateway.deps import Services, build_services
from gateway.settings import Settings
from tests.e2e.console_support import audit_rows, csrf_of, oidc_provider_mock

pytestmark = pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")

ROOT = oidc_provider_mock.User(sub="root", claims={"groups": ["gateway-admins"], "tenant": "northwind"})
ALICE = oidc_provider_mock.User(sub="alice", claims={"groups": ["staff"], "tenant": "northwind"})


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # the provider runs on plain HTTP in tests
        with oidc_provider_mock.run_server_in_thread(user_claims=[ROOT, ALICE]) as server:
            yield f"http://localhost:{server.server_port}"


@pytest.fixture
def sso(issuer: str, data_dir: Path) -> Iterator[tuple[TestClient[Any], Services]]:
    settings = Settings(
        environment="test", data_dir=data_dir, policy_poll_seconds=0.2,
        oidc={"issuer": issuer, "client_id": "gateway-console", "client_secret": "s3cret-for-tests",  # type: ignore[arg-type]
              "tenant_claim": "tenant"},
        embedding={"provider": "hashing"},  # type: ignore[arg-type]
    )  # fmt: skip
    services = build_services(settings)
    with TestClient(app=create_app(services=services), base_url="http://console.test") as client:
        yield client, services
    services.close()


def _authorize(client: TestClient[Any], sub: str) -> tuple[str, dict[str, list[str]]]:
    """Start the login, consent at the provider as ``sub``; the callback URL the browser would follow."""
    start = client.get("/console/login/sso", follow_redirects=False)
    assert start.status_code == 303
    params = parse_qs(urlsplit(start.headers["location"]).query)
    consent = httpx.post(start.headers["location"], data={"sub": sub})
    assert consent.status_code == 302, consent.text
    callback = urlsplit(consent.headers["location"])
    return f"{callback.path}?{callback.query}", params


def test_single_sign_on_logs_an_admin_in_with_pkce_state_and_nonce(sso: tuple[TestClient[Any], Services]) -> None:
    client, services = sso
    callback, params = _authorize(client, "root")
    assert params["code_challenge_method"] == ["S256"] and len(params["code_challenge"][0]) == 43
    assert params["state"][0] and params["nonce"][0] and params["client_id"] == ["gateway-console"]
    assert params["redirect_uri"] == ["http://console.test/console/callback"]
    r = client.get(callback, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/"
    page = client.get("/console/")
    assert page.status_code == 200 and "root · northwind · admin" in page.text
    assert [row["subject"] for row in audit_rows(services, "console.login")] == ["root"]

    out = client.post("/console/logout", data={"_csrf": csrf_of(page.text)}, follow_redirects=False)
    end = urlsplit(out.headers["location"])
    assert out.status_code == 303 and end.path == "/oauth2/end_session"
    assert parse_qs(end.query)["post_logout_redirect_uri"] == ["http://console.test/console/login"]
    assert client.get("/console/", follow_redirects=False).status_code == 303


def test_a_callback_with_another_state_is_refused(sso: tuple[TestClient[Any], Services]) -> None:
    client, services = sso
    callback, params = _authorize(client, "root")
    forged = callback.replace(params["state"][0], "someone-elses-state")
    assert client.get(forged, follow_redirects=False).status_code == 401
    assert client.get("/console/", follow_redirects=False).status_code == 303
    assert audit_rows(services, "console.login") == []


def test_a_callback_is_good_once(sso: tuple[TestClient[Any], Services]) -> None:
    client, _ = sso
    callback, _ = _authorize(client, "root")
    cookie = client.cookies.get("gateway_console")
    assert client.get(callback, follow_redirects=False).status_code == 303
    client.cookies.clear()
    client.cookies.set("gateway_console", cookie or "")
    assert client.get(callback, follow_redirects=False).status_code == 401


def test_an_id_token_for_another_nonce_is_refused(sso: tuple[TestClient[Any], Services]) -> None:
    client, services = sso
    callback, _ = _authorize(client, "root")
    store = provide_session_store(services.settings)  # the same file store the console uses
    sid = client.cookies.get("gateway_console") or ""

    async def tamper() -> None:
        session = await store.load(sid)
        assert session is not None
        session.pending["nonce"] = "not-the-nonce-the-provider-signed"
        await store.save(sid, session)

    import anyio

    anyio.run(tamper)
    assert client.get(callback, follow_redirects=False).status_code == 401
    assert audit_rows(services, "console.login") == []


def test_a_signed_in_user_without_a_console_role_gets_403(sso: tuple[TestClient[Any], Services]) -> None:
    client, services = sso
    callback, _ = _authorize(client, "alice")
    assert client.get(callback, follow_redirects=False).status_code == 303
    assert client.get("/console/").status_code == 403
    assert [r["status"] for r in audit_rows(services, "console.access")] == ["refused"]


def test_the_persona_page_does_not_exist_with_a_real_issuer(sso: tuple[TestClient[Any], Services]) -> None:
    client, _ = sso
    assert client.get("/console/login/dev/").status_code == 404
    assert json.loads(client.get("/console/login/dev/").text)["status"] == 404
