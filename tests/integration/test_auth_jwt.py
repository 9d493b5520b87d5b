"""JWT access tokens against a real (local) IdP over HTTP: forgeries refused, every allowed alg accepted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from auth_fixtures import AUDIENCE, JWKS_PATH, FakeIdP, SigningKey, claims_for, make_key, serve
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.auth.failure import Reason, TokenRejected
from gateway.auth.principal import Principal
from gateway.auth.verifier import TokenVerifier
from gateway.errors import AuthenticationError
from gateway.settings import OIDCSettings, Settings

pytestmark = pytest.mark.anyio

ALICE = Principal(subject="alice", tenant="default", groups=frozenset({"staff", "finance"}))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Kit:
    """Everything a forger (or an honest IdP) has at hand."""

    idp: FakeIdP
    keys: dict[str, SigningKey]
    attacker: SigningKey
    attacker_site: FakeIdP

    def claims(self, **overrides: Any) -> dict[str, Any]:
        return claims_for(self.idp.issuer, **overrides)

    @property
    def rs256(self) -> SigningKey:
        return self.keys["RS256"]


@pytest.fixture(scope="module")
def kit() -> Iterator[Kit]:
    keys = {alg: make_key(f"idp-{alg.lower()}", alg) for alg in ("RS256", "RS384", "PS256", "ES256", "EdDSA")}
    attacker = make_key("attacker-kid", "RS256")
    # Keys an IdP should not serve, but might: a 1024-bit RSA key and a JWK that is not a key at all.
    weak_rsa = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 -- the point
    weak = SigningKey("idp-weak", "RS256", weak_rsa)
    keys["weak"] = weak
    broken = {"kty": "RSA", "kid": "idp-broken", "alg": "RS256", "n": "AA", "e": "AQAB"}
    idp = FakeIdP(list(keys.values()), extra_jwks=[broken])
    with serve(idp), serve(FakeIdP([attacker])) as site:
        yield Kit(idp=idp, keys=keys, attacker=attacker, attacker_site=site)


def settings_for(issuer: str, tmp_path: Path, **oidc: Any) -> Settings:
    return Settings(data_dir=tmp_path, oidc=OIDCSettings(issuer=issuer, audience=AUDIENCE, **oidc))


@pytest.fixture
async def verifier(kit: Kit, tmp_path: Path) -> Any:
    # min refresh 0: an unknown kid always gets its one refresh, so every reason is deterministic.
    verifier = TokenVerifier(settings_for(kit.idp.issuer, tmp_path, jwks_min_refresh_seconds=0))
    yield verifier
    await verifier.aclose()


def b64(data: bytes | dict[str, Any]) -> str:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unsigned(k: Kit) -> str:
    return f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': k.rs256.kid})}.{b64(k.claims())}."


def hs256_keyed_with_public_pem(k: Kit) -> str:
    # The classic confusion attack: HMAC "secret" = the IdP's public key, which anyone can download.
    pem = k.rs256.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT', 'kid': k.rs256.kid})}.{b64(k.claims())}"
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def tampered(k: Kit) -> str:
    header, _, signature = k.rs256.sign(k.claims()).split(".")
    return f"{header}.{b64(k.claims(groups=['admin']))}.{signature}"


def jwk_header(key: SigningKey) -> dict[str, Any]:
    return {k: v for k, v in key.jwk.items() if k != "kid"}


FORGERIES: list[Any] = [
    pytest.param(unsigned, Reason.ALGORITHM_REFUSED, id="alg-none"),
    pytest.param(hs256_keyed_with_public_pem, Reason.ALGORITHM_REFUSED, id="hs256-keyed-with-public-key"),
    pytest.param(
        lambda k: k.attacker.sign(k.claims(), kid=k.rs256.kid),
        Reason.BAD_SIGNATURE,
        id="foreign-key-known-kid",
    ),
    pytest.param(lambda k: k.attacker.sign(k.claims()), Reason.UNKNOWN_KID, id="unknown-kid"),
    pytest.param(lambda k: k.rs256.sign(k.claims(exp=k.claims()["iat"] - 3600)), Reason.EXPIRED, id="expired"),
    pytest.param(lambda k: k.rs256.sign(k.claims(nbf=k.claims()["iat"] + 3600)), Reason.NOT_YET_VALID, id="future-nbf"),
    pytest.param(lambda k: k.rs256.sign(k.claims(exp=None)), Reason.MISSING_CLAIM, id="missing-exp"),
    pytest.param(lambda k: k.rs256.sign(k.claims(iss="https://idp.example.org")), Reason.WRONG_ISSUER, id="wrong-iss"),
    pytest.param(
        lambda k: k.rs256.sign(k.claims(iss=k.idp.issuer + "/")), Reason.WRONG_ISSUER, id="iss-trailing-slash"
    ),
    pytest.param(lambda k: k.rs256.sign(k.claims(aud="other-api")), Reason.WRONG_AUDIENCE, id="wrong-aud"),
    pytest.param(lambda k: k.rs256.sign(k.claims(aud=None)), Reason.MISSING_CLAIM, id="missing-aud"),
    pytest.param(tampered, Reason.BAD_SIGNATURE, id="tampered-payload"),
    pytest.param(
        lambda k: k.attacker.sign(k.claims(), jku=k.attacker_site.issuer + JWKS_PATH),
        Reason.UNKNOWN_KID,
        id="jku-to-attacker-jwks",
    ),
    pytest.param(
        lambda k: k.attacker.sign(k.claims(), kid=k.rs256.kid, jku=k.attacker_site.issuer + JWKS_PATH),
        Reason.BAD_SIGNATURE,
        id="jku-with-known-kid",
    ),
    pytest.param(
        lambda k: k.attacker.sign(k.claims(), kid=k.rs256.kid, jwk=jwk_header(k.attacker)),
        Reason.BAD_SIGNATURE,
        id="embedded-jwk",
    ),
    pytest.param(
        lambda k: k.attacker.sign(k.claims(), x5u=k.attacker_site.issuer + "/cert.pem"),
        Reason.UNKNOWN_KID,
        id="x5u-to-attacker",
    ),
    pytest.param(
        lambda k: k.rs256.sign(k.claims(iat=k.claims()["iat"] + 3600)),
        Reason.ISSUED_IN_FUTURE,
        id="future-iat",
    ),
    pytest.param(lambda k: k.rs256.sign(k.claims(sub=None)), Reason.INVALID_SUBJECT, id="missing-sub"),
    pytest.param(lambda k: k.rs256.sign(k.claims(sub="")), Reason.INVALID_SUBJECT, id="empty-sub"),
    pytest.param(lambda k: k.rs256.sign(k.claims(groups=["staff", "x\nadmin"])), Reason.INVALID_GROUPS, id="bad-group"),
    pytest.param(lambda k: k.rs256.sign(k.claims(), kid=None), Reason.MISSING_KID, id="missing-kid"),
    pytest.param(
        # A perfectly valid signature, but the JWK is RSA and the header claims ECDSA.
        lambda k: k.keys["ES256"].sign(k.claims(), kid=k.rs256.kid),
        Reason.KEY_MISMATCH,
        id="alg-does-not-fit-key-type",
    ),
    pytest.param(
        # Same RSA key, other padding: the JWK says RS256, so PS256 with it is refused.
        lambda k: SigningKey(k.rs256.kid, "PS256", k.rs256.private).sign(k.claims()),
        Reason.KEY_MISMATCH,
        id="alg-differs-from-jwk-alg",
    ),
    pytest.param(
        lambda k: SigningKey(k.rs256.kid, "RS512", k.rs256.private).sign(k.claims()),
        Reason.ALGORITHM_REFUSED,
        id="alg-outside-allow-list",
    ),
    pytest.param(lambda k: k.rs256.sign(k.claims(), crit=["exp"]), Reason.MALFORMED, id="crit-header"),
    pytest.param(
        lambda k: k.keys["weak"].sign(k.claims()),
        Reason.KEY_MISMATCH,
        id="rsa-1024-key",
        marks=pytest.mark.filterwarnings("ignore:The RSA key is 1024 bits long"),  # signing it, test side
    ),
    pytest.param(lambda k: k.attacker.sign(k.claims(), kid="idp-broken"), Reason.KEY_MISMATCH, id="malformed-jwk"),
    pytest.param(lambda k: "not a token", Reason.MALFORMED, id="garbage"),
]


@pytest.mark.parametrize(("forge", "reason"), FORGERIES)
async def test_forged_token_is_refused_with_its_reason(
    kit: Kit, verifier: TokenVerifier, forge: Callable[[Kit], str], reason: Reason
) -> None:
    with pytest.raises(TokenRejected) as refused:
        await verifier.verify(forge(kit))
    assert refused.value.reason is reason


@pytest.mark.parametrize("alg", ["RS256", "RS384", "PS256", "ES256", "EdDSA"])
async def test_token_signed_with_an_allowed_algorithm_is_accepted(kit: Kit, verifier: TokenVerifier, alg: str) -> None:
    assert await verifier.verify(kit.keys[alg].sign(kit.claims())) == ALICE


async def test_jku_x5u_and_embedded_jwk_are_never_fetched_or_trusted(kit: Kit, verifier: TokenVerifier) -> None:
    site = kit.attacker_site.issuer
    forged = [
        kit.attacker.sign(kit.claims(), jku=site + JWKS_PATH),
        kit.attacker.sign(kit.claims(), x5u=site + "/cert.pem"),
        kit.attacker.sign(kit.claims(), jwk=jwk_header(kit.attacker)),
    ]
    for token in forged:
        with pytest.raises(AuthenticationError):
            await verifier.verify(token)
    assert sum(kit.attacker_site.hits.values()) == 0


async def test_an_unknown_kid_refreshes_the_jwks_before_it_is_refused(kit: Kit, verifier: TokenVerifier) -> None:
    await verifier.verify(kit.rs256.sign(kit.claims()))
    before = kit.idp.hits[JWKS_PATH]
    with pytest.raises(TokenRejected):
        await verifier.verify(kit.attacker.sign(kit.claims()))
    assert kit.idp.hits[JWKS_PATH] == before + 1


async def test_refusal_tells_the_caller_nothing_but_logs_the_reason_without_the_token(
    kit: Kit, verifier: TokenVerifier, caplog: pytest.LogCaptureFixture
) -> None:
    token = kit.rs256.sign(kit.claims(aud="other-api"))
    with caplog.at_level(logging.DEBUG, logger="gateway.auth"), pytest.raises(AuthenticationError) as refused:
        await verifier.verify(token)
    assert (refused.value.status_code, refused.value.code) == (401, "unauthenticated")
    assert refused.value.detail == "Authentication required"
    assert "wrong_audience" in caplog.text
    assert token not in caplog.text
    assert token.split(".")[1] not in caplog.text


async def test_a_hostile_kid_is_logged_short_and_printable(
    kit: Kit, verifier: TokenVerifier, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="gateway.auth"), pytest.raises(TokenRejected):
        await verifier.verify(kit.attacker.sign(kit.claims(), kid="x\nFAKE LOG LINE" + "A" * 500))
    assert "\nFAKE" not in caplog.text
    assert "A" * 100 not in caplog.text


async def test_tenant_comes_from_the_tenant_claim_when_configured(kit: Kit, tmp_path: Path) -> None:
    verifier = TokenVerifier(settings_for(kit.idp.issuer, tmp_path, tenant_claim="org"))
    try:
        principal = await verifier.verify(kit.rs256.sign(kit.claims(org="acme")))
    finally:
        await verifier.aclose()
    assert principal.tenant == "acme"


async def test_without_any_issuer_every_token_fails(kit: Kit, tmp_path: Path) -> None:
    verifier = TokenVerifier(Settings(data_dir=tmp_path))
    try:
        for token in (kit.rs256.sign(kit.claims()), "opaque-token-value"):
            with pytest.raises(TokenRejected) as refused:
                await verifier.verify(token)
            assert refused.value.reason is Reason.NO_ISSUER
    finally:
        await verifier.aclose()
