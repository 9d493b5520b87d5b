"""Opaque tokens: RFC 7662 introspection with an audience/client check, over real HTTP.

The identity provider is ``auth_fixtures.FakeIdP`` (a real HTTP server): its introspection endpoint
authenticates the gateway as a client and answers for the opaque tokens it issued. ``oidc-provider-
mock`` serves no introspection endpoint, so it cannot stand in here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.auth.failure import Reason, TokenRejected
from gateway.auth.principal import Principal
from gateway.auth.verifier import TokenVerifier
from gateway.settings import OIDCSettings, Settings
from tests.integration.auth_fixtures import AUDIENCE, INTROSPECTION_CLIENT, INTROSPECTION_PATH, FakeIdP, serve

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def idp() -> Iterator[FakeIdP]:
    with serve(FakeIdP(keys=[])) as running:
        yield running


def answer(idp: FakeIdP, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "active": True,
        "sub": "bob",
        "aud": AUDIENCE,
        "client_id": "portal",
        "iss": idp.issuer,
        "exp": int(time.time()) + 300,
        "token_type": "access_token",
        "groups": ["eng"],
        "org": "acme",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def verifier(idp: FakeIdP, tmp_path: Path, **oidc: Any) -> TokenVerifier:
    settings: dict[str, Any] = {
        "issuer": idp.issuer,
        "tenant_claim": "org",
        "introspection_client_id": INTROSPECTION_CLIENT[0],
        "introspection_client_secret": INTROSPECTION_CLIENT[1],
        **oidc,
    }
    return TokenVerifier(Settings(data_dir=tmp_path, oidc=OIDCSettings(**settings)))


async def test_an_active_token_issued_for_us_is_accepted_and_cached(idp: FakeIdP, tmp_path: Path) -> None:
    idp.tokens["opaque-1"] = answer(idp)
    v = verifier(idp, tmp_path)
    try:
        assert await v.verify("opaque-1") == Principal("bob", "acme", frozenset({"eng"}))
        await v.verify("opaque-1")
    finally:
        await v.aclose()
    assert idp.hits[INTROSPECTION_PATH] == 1


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        pytest.param({"aud": "another-api", "client_id": "other-app"}, Reason.WRONG_AUDIENCE, id="other-audience"),
        pytest.param({"aud": None}, Reason.WRONG_AUDIENCE, id="no-audience"),
        pytest.param({"active": False}, Reason.INACTIVE_TOKEN, id="inactive"),
        pytest.param({"token_type": "refresh_token"}, Reason.INACTIVE_TOKEN, id="refresh-token"),
        pytest.param({"exp": int(time.time()) - 3600}, Reason.EXPIRED, id="expired"),
        pytest.param({"iss": "https://evil.example"}, Reason.WRONG_ISSUER, id="other-issuer"),
    ],
)
async def test_a_token_not_for_us_is_refused(
    idp: FakeIdP, tmp_path: Path, overrides: dict[str, Any], reason: Reason
) -> None:
    idp.tokens["opaque-2"] = answer(idp, **overrides)
    v = verifier(idp, tmp_path)
    try:
        with pytest.raises(TokenRejected) as refused:
            await v.verify("opaque-2")
    finally:
        await v.aclose()
    assert refused.value.reason is reason


async def test_an_allowed_client_is_accepted_when_the_audience_names_the_client(idp: FakeIdP, tmp_path: Path) -> None:
    idp.tokens["opaque-3"] = answer(idp, aud="portal", client_id="portal")
    refusing, allowing = verifier(idp, tmp_path), verifier(idp, tmp_path, allowed_client_ids=("portal",))
    try:
        with pytest.raises(TokenRejected):
            await refusing.verify("opaque-3")
        assert (await allowing.verify("opaque-3")).subject == "bob"
    finally:
        await refusing.aclose()
        await allowing.aclose()


async def test_wrong_client_credentials_are_an_idp_problem_not_a_pass(idp: FakeIdP, tmp_path: Path) -> None:
    from gateway.errors import ServiceUnavailable

    idp.tokens["opaque-4"] = answer(idp)
    v = verifier(idp, tmp_path, introspection_client_secret="wrong")
    try:
        with pytest.raises(ServiceUnavailable):
            await v.verify("opaque-4")
    finally:
        await v.aclose()


async def test_without_introspection_or_the_userinfo_opt_in_opaque_tokens_are_refused(
    idp: FakeIdP, tmp_path: Path
) -> None:
    idp.tokens["opaque-5"] = answer(idp)
    v = verifier(idp, tmp_path, introspection_client_id=None, introspection_client_secret=None)
    try:
        with pytest.raises(TokenRejected) as refused:
            await v.verify("opaque-5")
    finally:
        await v.aclose()
    assert refused.value.reason is Reason.OPAQUE_TOKENS_REFUSED
    assert idp.hits[INTROSPECTION_PATH] == 0
