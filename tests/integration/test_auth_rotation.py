"""Key rotation at the IdP, the JWKS refresh rate limit, and readiness, over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from auth_fixtures import (
    AUDIENCE,
    DISCOVERY_PATH,
    JWKS_PATH,
    FakeIdP,
    SigningKey,
    claims_for,
    make_key,
    serve,
)

from gateway.auth.failure import Reason, TokenRejected
from gateway.auth.verifier import TokenVerifier
from gateway.errors import ServiceUnavailable
from gateway.settings import OIDCSettings, Settings

pytestmark = pytest.mark.anyio

FLOOD = 50


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def old_key() -> SigningKey:
    return make_key("2026-01", "EdDSA")


@pytest.fixture(scope="module")
def new_key() -> SigningKey:
    return make_key("2026-02", "EdDSA")


@pytest.fixture
def idp(old_key: SigningKey) -> Iterator[FakeIdP]:
    with serve(FakeIdP([old_key])) as running:
        yield running


def verifier_for(issuer: str, tmp_path: Path, **oidc: Any) -> TokenVerifier:
    return TokenVerifier(Settings(data_dir=tmp_path, oidc=OIDCSettings(issuer=issuer, audience=AUDIENCE, **oidc)))


async def test_a_new_signing_key_at_the_idp_is_picked_up(
    idp: FakeIdP, old_key: SigningKey, new_key: SigningKey, tmp_path: Path
) -> None:
    verifier = verifier_for(idp.issuer, tmp_path, jwks_min_refresh_seconds=0)
    try:
        await verifier.verify(old_key.sign(claims_for(idp.issuer)))
        idp.rotate(old_key, new_key)
        principal = await verifier.verify(new_key.sign(claims_for(idp.issuer)))
    finally:
        await verifier.aclose()
    assert principal.subject == "alice"
    assert idp.hits[JWKS_PATH] == 2


async def test_a_retired_key_is_refused_after_the_idp_drops_it_and_the_cache_expires(
    idp: FakeIdP, old_key: SigningKey, new_key: SigningKey, tmp_path: Path
) -> None:
    verifier = verifier_for(idp.issuer, tmp_path, jwks_cache_seconds=0, jwks_min_refresh_seconds=0)
    try:
        await verifier.verify(old_key.sign(claims_for(idp.issuer)))
        idp.rotate(new_key)
        with pytest.raises(TokenRejected) as refused:
            await verifier.verify(old_key.sign(claims_for(idp.issuer)))
    finally:
        await verifier.aclose()
    assert refused.value.reason is Reason.UNKNOWN_KID


async def test_a_flood_of_unknown_kids_on_a_cold_verifier_fetches_the_jwks_once(
    idp: FakeIdP, old_key: SigningKey, tmp_path: Path
) -> None:
    verifier = verifier_for(idp.issuer, tmp_path, jwks_min_refresh_seconds=30)
    forged = [SigningKey(f"made-up-{i}", "EdDSA", old_key.private).sign(claims_for(idp.issuer)) for i in range(FLOOD)]
    try:
        results = await asyncio.gather(*(verifier.verify(t) for t in forged), return_exceptions=True)
        for token in forged[:10]:  # and later, still within the interval: no fetch at all
            with pytest.raises(TokenRejected):
                await verifier.verify(token)
    finally:
        await verifier.aclose()
    assert all(isinstance(r, TokenRejected) and r.reason is Reason.UNKNOWN_KID for r in results)
    assert idp.hits[JWKS_PATH] == 1


async def test_a_burst_of_unknown_kids_after_the_interval_triggers_exactly_one_refresh(
    idp: FakeIdP, old_key: SigningKey, tmp_path: Path
) -> None:
    verifier = verifier_for(idp.issuer, tmp_path, jwks_min_refresh_seconds=0.2)
    forged = [SigningKey(f"made-up-{i}", "EdDSA", old_key.private).sign(claims_for(idp.issuer)) for i in range(FLOOD)]
    try:
        await verifier.verify(old_key.sign(claims_for(idp.issuer)))
        await asyncio.sleep(0.25)
        await asyncio.gather(*(verifier.verify(t) for t in forged), return_exceptions=True)
    finally:
        await verifier.aclose()
    assert idp.hits[JWKS_PATH] == 2


async def test_rotation_within_the_refresh_interval_waits_for_the_interval(
    idp: FakeIdP, old_key: SigningKey, new_key: SigningKey, tmp_path: Path
) -> None:
    verifier = verifier_for(idp.issuer, tmp_path, jwks_min_refresh_seconds=0.2)
    try:
        await verifier.verify(old_key.sign(claims_for(idp.issuer)))
        idp.rotate(old_key, new_key)
        with pytest.raises(TokenRejected):
            await verifier.verify(new_key.sign(claims_for(idp.issuer)))
        await asyncio.sleep(0.25)
        principal = await verifier.verify(new_key.sign(claims_for(idp.issuer)))
    finally:
        await verifier.aclose()
    assert principal.subject == "alice"


async def test_cached_keys_survive_an_idp_outage(idp: FakeIdP, old_key: SigningKey, tmp_path: Path) -> None:
    verifier = verifier_for(idp.issuer, tmp_path, jwks_cache_seconds=0, jwks_min_refresh_seconds=0)
    try:
        await verifier.verify(old_key.sign(claims_for(idp.issuer)))
        assert idp.server is not None
        idp.server.shutdown()
        idp.server.server_close()
        principal = await verifier.verify(old_key.sign(claims_for(idp.issuer)))
    finally:
        await verifier.aclose()
    assert principal.subject == "alice"


async def test_cached_keys_expire_during_an_idp_outage_then_503_with_a_clear_log_line(
    idp: FakeIdP, old_key: SigningKey, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    verifier = verifier_for(
        idp.issuer, tmp_path, jwks_cache_seconds=0, jwks_min_refresh_seconds=0, jwks_max_stale_seconds=0.5
    )
    try:
        await verifier.verify(old_key.sign(claims_for(idp.issuer)))
        assert idp.server is not None
        idp.server.shutdown()
        idp.server.server_close()
        assert (await verifier.verify(old_key.sign(claims_for(idp.issuer)))).subject == "alice"  # within the bound
        await asyncio.sleep(0.6)
        with pytest.raises(ServiceUnavailable) as refused:
            await verifier.verify(old_key.sign(claims_for(idp.issuer)))
    finally:
        await verifier.aclose()
    assert refused.value.code == "idp_unavailable" and refused.value.status_code == 503
    assert any("JWKS keys are older than" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)


async def test_ready_when_discovery_and_jwks_load(idp: FakeIdP, tmp_path: Path) -> None:
    verifier = verifier_for(idp.issuer, tmp_path)
    try:
        await verifier.ready()
    finally:
        await verifier.aclose()
    assert (idp.hits[DISCOVERY_PATH], idp.hits[JWKS_PATH]) == (1, 1)


async def test_not_ready_when_the_issuer_cannot_be_reached(tmp_path: Path) -> None:
    verifier = verifier_for("http://127.0.0.1:9", tmp_path, http_timeout_seconds=2)
    try:
        with pytest.raises(ServiceUnavailable):
            await verifier.ready()
        # The token is not judged at all: an unreachable IdP is a 503 for the caller, never a pass.
        with pytest.raises(ServiceUnavailable) as refused:
            await verifier.verify(make_key("k", "EdDSA").sign(claims_for("http://127.0.0.1:9")))
    finally:
        await verifier.aclose()
    assert refused.value.code == "idp_unavailable"


async def test_not_ready_when_discovery_names_another_issuer(idp: FakeIdP, tmp_path: Path) -> None:
    verifier = verifier_for(idp.issuer + "/", tmp_path)
    try:
        with pytest.raises(ServiceUnavailable):
            await verifier.ready()
    finally:
        await verifier.aclose()
    assert idp.hits[JWKS_PATH] == 0


async def test_the_dev_issuer_alone_is_always_ready(tmp_path: Path) -> None:
    verifier = TokenVerifier(Settings(environment="test", data_dir=tmp_path, dev_issuer=True))
    try:
        await verifier.ready()
    finally:
        await verifier.aclose()
