"""The JWKS cache on its own: freshness, rate-limited refresh, one fetch per burst, stale keys on outage."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.auth.failure import IssuerUnreachable, Reason, TokenRejected
from gateway.auth.jwks import JWKSCache

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeIdPKeys:
    """A JWKS source whose keys, availability and clock the test controls."""

    def __init__(self, *kids: str) -> None:
        self.kids = list(kids)
        self.fetches = 0
        self.down = False
        self.now = 1000.0

    async def fetch(self) -> object:
        self.fetches += 1
        await asyncio.sleep(0.01)  # let a burst pile up behind the lock
        if self.down:
            raise IssuerUnreachable("down")
        return {"keys": [{"kid": k, "kty": "OKP"} for k in self.kids]}

    def cache(self, **kwargs: Any) -> JWKSCache:
        options = {"cache_seconds": 3600.0, "min_refresh_seconds": 30.0, **kwargs}
        return JWKSCache(self.fetch, clock=lambda: self.now, **options)


async def test_known_kids_are_served_from_the_cache() -> None:
    idp = FakeIdPKeys("a", "b")
    cache = idp.cache()
    assert (await cache.key("a"))["kid"] == "a"
    assert (await cache.key("b"))["kid"] == "b"
    assert idp.fetches == 1


async def test_an_expired_cache_is_refetched() -> None:
    idp = FakeIdPKeys("a")
    cache = idp.cache(cache_seconds=60)
    await cache.key("a")
    idp.now += 61
    await cache.key("a")
    assert idp.fetches == 2


async def test_unknown_kids_refresh_at_most_once_per_interval() -> None:
    idp = FakeIdPKeys("a")
    cache = idp.cache(min_refresh_seconds=30)
    await cache.key("a")
    idp.now += 31
    for kid in ("x", "y", "z"):
        with pytest.raises(TokenRejected):
            await cache.key(kid)
    assert idp.fetches == 2
    idp.kids.append("new")
    idp.now += 29
    with pytest.raises(TokenRejected):
        await cache.key("new")
    idp.now += 2
    assert (await cache.key("new"))["kid"] == "new"
    assert idp.fetches == 3


async def test_a_concurrent_burst_causes_one_fetch_even_without_an_interval() -> None:
    idp = FakeIdPKeys("a")
    cache = idp.cache(min_refresh_seconds=0)
    results = await asyncio.gather(*(cache.key(f"k{i}") for i in range(100)), return_exceptions=True)
    assert all(isinstance(r, TokenRejected) and r.reason is Reason.UNKNOWN_KID for r in results)
    assert idp.fetches == 1


async def test_stale_keys_are_kept_while_the_idp_is_down() -> None:
    idp = FakeIdPKeys("a")
    cache = idp.cache(cache_seconds=60)
    await cache.key("a")
    idp.down, idp.now = True, idp.now + 120
    assert (await cache.key("a"))["kid"] == "a"


async def test_stale_keys_stop_verifying_after_the_staleness_bound() -> None:
    idp = FakeIdPKeys("a")
    cache = idp.cache(cache_seconds=60, max_stale_seconds=600, min_refresh_seconds=0)
    await cache.key("a")
    idp.down, idp.now = True, idp.now + 599
    assert (await cache.key("a"))["kid"] == "a"
    idp.now += 2
    with pytest.raises(TokenRejected) as refused:
        await cache.key("a")
    assert refused.value.reason is Reason.ISSUER_UNAVAILABLE
    idp.down = False  # the IdP is back: the next request refreshes and verifies again
    assert (await cache.key("a"))["kid"] == "a"


async def test_no_keys_at_all_is_issuer_unavailable_and_not_retried_within_the_interval() -> None:
    idp = FakeIdPKeys("a")
    idp.down = True
    cache = idp.cache(min_refresh_seconds=30)
    for _ in range(3):
        with pytest.raises(TokenRejected) as refused:
            await cache.key("a")
        assert refused.value.reason is Reason.ISSUER_UNAVAILABLE
    with pytest.raises(IssuerUnreachable):
        await cache.ensure_loaded()
    assert idp.fetches == 1


@pytest.mark.parametrize(
    "document",
    [
        pytest.param([], id="not-an-object"),
        pytest.param({"keys": "nope"}, id="keys-not-a-list"),
    ],
)
async def test_a_malformed_jwks_counts_as_unavailable(document: object) -> None:
    async def fetch() -> object:
        return document

    with pytest.raises(IssuerUnreachable):
        await JWKSCache(fetch, cache_seconds=60, min_refresh_seconds=0).ensure_loaded()


async def test_keys_without_kid_and_encryption_keys_are_skipped() -> None:
    async def fetch() -> object:
        return {"keys": [{"kty": "RSA"}, {"kid": "enc", "use": "enc"}, {"kid": "sig", "use": "sig"}, "junk"]}

    cache = JWKSCache(fetch, cache_seconds=60, min_refresh_seconds=30)
    assert (await cache.key("sig"))["kid"] == "sig"
    with pytest.raises(TokenRejected):
        await cache.key("enc")


@pytest.mark.parametrize(("kids", "sole"), [(("a",), "a"), (("a", "b"), None)])
async def test_a_token_without_kid_may_use_the_only_key_and_never_picks_one_of_several(
    kids: tuple[str, ...], sole: str | None
) -> None:
    """OpenID Connect Core §10.1: an ID token may omit kid only when the JWKS holds one key."""
    key = await FakeIdPKeys(*kids).cache().sole_key()
    assert (key["kid"] if key else None) == sole
