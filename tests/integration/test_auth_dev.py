"""The development issuer: minted tokens verify only when it is switched on; its key persists, private."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import jwt
import pytest

from gateway.auth.dev import DEV_ISSUER, KEY_FILE_NAME, DevIssuer, key_directory, mint_dev_token
from gateway.auth.failure import Reason, TokenRejected
from gateway.auth.principal import Principal
from gateway.auth.verifier import TokenVerifier
from gateway.settings import OIDCSettings, Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def dev_settings(tmp_path: Path, *, enabled: bool = True, **oidc: Any) -> Settings:
    return Settings(environment="test", data_dir=tmp_path, dev_issuer=enabled, oidc=OIDCSettings(**oidc))


async def verify(settings: Settings, token: str) -> Principal:
    verifier = TokenVerifier(settings)
    try:
        return await verifier.verify(token)
    finally:
        await verifier.aclose()


async def test_a_minted_token_verifies_when_the_dev_issuer_is_on(tmp_path: Path) -> None:
    settings = dev_settings(tmp_path)
    token = mint_dev_token(settings, "alice", ["staff", "finance"])
    assert await verify(settings, token) == Principal("alice", "default", frozenset({"staff", "finance"}))


async def test_a_minted_token_is_refused_when_the_dev_issuer_is_off(tmp_path: Path) -> None:
    token = mint_dev_token(dev_settings(tmp_path), "alice", ["staff"])
    with pytest.raises(TokenRejected) as refused:
        await verify(dev_settings(tmp_path, enabled=False), token)
    assert refused.value.reason is Reason.DEV_ISSUER_DISABLED


async def test_a_dev_token_is_refused_when_only_an_oidc_issuer_is_configured(tmp_path: Path) -> None:
    token = mint_dev_token(dev_settings(tmp_path), "alice", ["staff"])
    with pytest.raises(TokenRejected) as refused:
        await verify(dev_settings(tmp_path, enabled=False, issuer="http://127.0.0.1:9"), token)
    assert refused.value.reason is Reason.DEV_ISSUER_DISABLED


async def test_the_tenant_goes_into_the_configured_tenant_claim(tmp_path: Path) -> None:
    settings = dev_settings(tmp_path, tenant_claim="org")
    token = mint_dev_token(settings, "alice", ["staff"], tenant="acme")
    assert jwt.decode(token, options={"verify_signature": False})["org"] == "acme"
    assert (await verify(settings, token)).tenant == "acme"


async def test_an_expired_dev_token_is_refused(tmp_path: Path) -> None:
    settings = dev_settings(tmp_path, leeway_seconds=0)
    token = mint_dev_token(settings, "alice", [], ttl_seconds=-1)
    with pytest.raises(TokenRejected) as refused:
        await verify(settings, token)
    assert refused.value.reason is Reason.EXPIRED


async def test_a_token_signed_by_another_data_dirs_key_is_refused(tmp_path: Path) -> None:
    token = mint_dev_token(dev_settings(tmp_path / "elsewhere"), "alice", [])
    with pytest.raises(TokenRejected) as refused:
        await verify(dev_settings(tmp_path / "here"), token)
    assert refused.value.reason is Reason.UNKNOWN_KID


async def test_a_dev_token_with_another_audience_is_refused(tmp_path: Path) -> None:
    token = mint_dev_token(dev_settings(tmp_path, audience="other-api"), "alice", [])
    with pytest.raises(TokenRejected) as refused:
        await verify(dev_settings(tmp_path), token)
    assert refused.value.reason is Reason.WRONG_AUDIENCE


def test_the_key_is_generated_once_and_reused_across_instances(tmp_path: Path) -> None:
    settings = dev_settings(tmp_path)
    first, second = DevIssuer(settings), DevIssuer(settings)
    assert first.kid == second.kid
    token = first.mint("alice", [])
    assert second.verify(token)["iss"] == DEV_ISSUER


def test_the_private_key_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    DevIssuer(dev_settings(tmp_path))
    directory = key_directory(dev_settings(tmp_path))
    assert stat.S_IMODE((directory / KEY_FILE_NAME).stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert [p.name for p in directory.iterdir()] == [KEY_FILE_NAME]


def test_a_key_file_left_world_readable_is_tightened(tmp_path: Path) -> None:
    settings = dev_settings(tmp_path)
    kid = DevIssuer(settings).kid
    key_file = key_directory(settings) / KEY_FILE_NAME
    key_file.chmod(0o644)
    assert DevIssuer(settings).kid == kid
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_the_token_carries_issuer_audience_times_and_kid(tmp_path: Path) -> None:
    issuer = DevIssuer(dev_settings(tmp_path))
    token = issuer.mint("alice", ["staff"], ttl_seconds=60)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": issuer.kid, "typ": "JWT"}
    assert (claims["iss"], claims["aud"], claims["groups"]) == (DEV_ISSUER, "gateway", ["staff"])
    assert claims["exp"] - claims["iat"] == 60
    assert claims["nbf"] == claims["iat"]


@pytest.mark.parametrize(
    ("subject", "groups", "tenant"),
    [
        pytest.param("", [], None, id="empty-subject"),
        pytest.param("alice", ["has space"], None, id="group-with-space"),
        pytest.param("alice", [], "acme corp", id="tenant-with-space"),
    ],
)
def test_minting_refuses_what_the_verifier_would_refuse(
    tmp_path: Path, subject: str, groups: list[str], tenant: str | None
) -> None:
    with pytest.raises(ValueError, match="cannot mint"):
        mint_dev_token(dev_settings(tmp_path), subject, groups, tenant=tenant)
