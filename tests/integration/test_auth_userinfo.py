"""Opaque access tokens resolved at a real OIDC provider's userinfo endpoint (``oidc-provider-mock``).

Userinfo acceptance is an explicit opt-in (``accept_userinfo_tokens``): these tests opt in, and
one checks that without it the same token is refused (userinfo has no audience binding).
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

with warnings.catch_warnings():
    # The provider imports authlib.jose, which warns about its own deprecation (nothing of ours);
    # authlib installs an "always" filter for that warning on import, so ours goes in after it.
    import authlib.deprecate

    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    import oidc_provider_mock

from gateway.auth.failure import Reason, TokenRejected
from gateway.auth.principal import Principal
from gateway.auth.verifier import TokenVerifier
from gateway.settings import OIDCSettings, Settings

pytestmark = [
    pytest.mark.anyio,
    # authlib, inside the provider, warns about its own API; nothing of ours.
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
]

BOB = oidc_provider_mock.User(sub="bob", claims={"groups": ["eng", "staff"], "org": "acme"})
CAROL = oidc_provider_mock.User(sub="carol", claims={"org": "acme"})
REDIRECT_URI = "http://localhost/callback"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # the provider runs on plain HTTP in tests
        with oidc_provider_mock.run_server_in_thread(user_claims=[BOB, CAROL]) as server:
            yield f"http://localhost:{server.server_port}"


def access_token_for(issuer: str, sub: str) -> str:
    """Drive the authorization-code flow as a browser and a client would; return the access token."""
    query = {
        "client_id": "gateway-test",
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": "openid",
    }
    with httpx.Client(base_url=issuer) as client:
        consent = client.post("/oauth2/authorize", params=query, data={"sub": sub})
        assert consent.status_code == 302, consent.text
        code = parse_qs(urlparse(consent.headers["location"]).query)["code"][0]
        grant = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
        token = client.post("/oauth2/token", data=grant, auth=("gateway-test", "any-secret"))
        assert token.status_code == 200, token.text
        return str(token.json()["access_token"])


class CountingVerifier:
    """A verifier plus a count of the requests its HTTP client sent to the userinfo endpoint."""

    def __init__(self, issuer: str, tmp_path: Path, **oidc: Any) -> None:
        oidc.setdefault("accept_userinfo_tokens", True)
        self.userinfo_calls = 0

        async def count(request: httpx.Request) -> None:
            if request.url.path == "/userinfo":
                self.userinfo_calls += 1

        self.http = httpx.AsyncClient(event_hooks={"request": [count]})
        settings = Settings(data_dir=tmp_path, oidc=OIDCSettings(issuer=issuer, tenant_claim="org", **oidc))
        self.verifier = TokenVerifier(settings, http=self.http)

    async def aclose(self) -> None:
        await self.verifier.aclose()
        await self.http.aclose()


@pytest.fixture
async def counting(issuer: str, tmp_path: Path) -> Any:
    counting = CountingVerifier(issuer, tmp_path)
    yield counting
    await counting.aclose()


async def test_an_opaque_token_resolves_to_the_userinfo_principal(issuer: str, counting: CountingVerifier) -> None:
    token = await asyncio.to_thread(access_token_for, issuer, "bob")
    assert await counting.verifier.verify(token) == Principal("bob", "acme", frozenset({"eng", "staff"}))


async def test_a_second_verify_within_the_ttl_is_served_from_the_cache(issuer: str, counting: CountingVerifier) -> None:
    token = await asyncio.to_thread(access_token_for, issuer, "bob")
    first = await counting.verifier.verify(token)
    second = await counting.verifier.verify(token)
    assert first == second
    assert counting.userinfo_calls == 1


async def test_after_the_ttl_the_userinfo_endpoint_is_asked_again(issuer: str, tmp_path: Path) -> None:
    counting = CountingVerifier(issuer, tmp_path, userinfo_cache_seconds=0.2)
    try:
        token = await asyncio.to_thread(access_token_for, issuer, "bob")
        await counting.verifier.verify(token)
        await asyncio.sleep(0.25)
        await counting.verifier.verify(token)
    finally:
        await counting.aclose()
    assert counting.userinfo_calls == 2


async def test_a_revoked_token_is_refused_once_the_cache_has_expired(issuer: str, tmp_path: Path) -> None:
    counting = CountingVerifier(issuer, tmp_path, userinfo_cache_seconds=0.2)
    try:
        token = await asyncio.to_thread(access_token_for, issuer, "carol")
        await counting.verifier.verify(token)
        revoked = await counting.http.post(f"{issuer}/users/carol/revoke-tokens")
        assert revoked.status_code == 204
        await asyncio.sleep(0.25)
        with pytest.raises(TokenRejected) as refused:
            await counting.verifier.verify(token)
    finally:
        await counting.aclose()
    assert refused.value.reason is Reason.USERINFO_REFUSED


async def test_an_unknown_opaque_token_is_refused_and_the_refusal_is_not_refetched_at_once(
    counting: CountingVerifier,
) -> None:
    for _ in range(3):
        with pytest.raises(TokenRejected) as refused:
            await counting.verifier.verify("never-issued-by-this-provider")
        assert refused.value.reason is Reason.USERINFO_REFUSED
    assert counting.userinfo_calls == 1


async def test_the_cache_never_holds_the_token_itself(issuer: str, counting: CountingVerifier) -> None:
    token = await asyncio.to_thread(access_token_for, issuer, "bob")
    await counting.verifier.verify(token)
    oidc = counting.verifier._oidc
    assert oidc is not None
    assert token not in repr(oidc._userinfo_cache)


async def test_without_the_opt_in_a_userinfo_token_is_refused_unasked(issuer: str, tmp_path: Path) -> None:
    counting = CountingVerifier(issuer, tmp_path, accept_userinfo_tokens=False)
    try:
        token = await asyncio.to_thread(access_token_for, issuer, "bob")
        with pytest.raises(TokenRejected) as refused:
            await counting.verifier.verify(token)
    finally:
        await counting.aclose()
    assert refused.value.reason is Reason.OPAQUE_TOKENS_REFUSED and counting.userinfo_calls == 0
