"""Development issuer: local tokens without an IdP, trusted only when ``settings.dev_issuer`` is on.

The Ed25519 key pair is generated on first use and kept in ``<data_dir>/dev-issuer/`` (private key
mode 0600, directory 0700), so tokens minted by ``gateway token`` stay valid across restarts.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import stat
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.auth.claims import principal_from_claims
from gateway.auth.failure import Reason, TokenRejected
from gateway.auth.jws import decode_verified, key_for, read_header
from gateway.settings import Settings

logger = logging.getLogger("gateway.auth")

DEV_ISSUER = "urn:gateway:dev-issuer"
"""The ``iss`` of development tokens; no real IdP uses a URN, so routing on it cannot be confused."""
KEY_FILE_NAME = "signing-key.pem"
_ALGORITHM = "EdDSA"
DEFAULT_TENANT_CLAIM = "tenant"


class DevIssuer:
    """Mints and verifies development tokens with the key kept in the data dir."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._private_key = _load_or_create_key(key_directory(settings))
        raw = self._private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.public_jwk: dict[str, str] = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}
        self.kid = _thumbprint(self.public_jwk)
        """RFC 7638 thumbprint of the public key: stable for a key, different for every key."""
        self.public_jwk.update({"kid": self.kid, "alg": _ALGORITHM, "use": "sig"})

    def mint(
        self,
        subject: str,
        groups: Iterable[str],
        tenant: str | None = None,
        ttl_seconds: int = 3600,
    ) -> str:
        """A signed access token for ``subject``.

        Raises:
            ValueError: the subject, groups or tenant would not be accepted by the verifier.
        """
        oidc = self._settings.oidc
        tenant_claim = oidc.tenant_claim or DEFAULT_TENANT_CLAIM
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": DEV_ISSUER,
            "sub": subject,
            "aud": oidc.audience,
            "iat": now,
            "nbf": now,
            "exp": now + ttl_seconds,
            "jti": secrets.token_urlsafe(16),
            # A string is kept as is (the verifier splits it), so ``sorted`` never spells it out.
            oidc.groups_claim: groups if isinstance(groups, str) else sorted(groups),
        }
        if tenant is not None:
            claims[tenant_claim] = tenant
        # Refuse to mint what the verifier would refuse, with the same rules (a configured tenant
        # claim is required; an unconfigured one is checked only when a tenant is given).
        check = (
            oidc if oidc.tenant_claim else oidc.model_copy(update={"tenant_claim": tenant_claim if tenant else None})
        )
        try:
            principal_from_claims(claims, check)
        except TokenRejected as exc:
            raise ValueError(f"cannot mint a development token: {exc.reason.value}") from None
        return jwt.encode(claims, self._private_key, algorithm=_ALGORITHM, headers={"kid": self.kid})

    def verify(self, token: str) -> dict[str, Any]:
        """Verify a development token; return its claims.

        Raises:
            TokenRejected: with the reason of the first failed check.
        """
        header = read_header(token, frozenset({_ALGORITHM}))
        if header.kid != self.kid:
            raise TokenRejected(Reason.UNKNOWN_KID, kid=header.kid)
        return decode_verified(
            token,
            key_for(self.public_jwk, header),
            header,
            issuer=DEV_ISSUER,
            audience=self._settings.oidc.audience,
            leeway=self._settings.oidc.leeway_seconds,
        )


def mint_dev_token(
    settings: Settings,
    subject: str,
    groups: Iterable[str],
    tenant: str | None = None,
    ttl_seconds: int = 3600,
) -> str:
    """Mint a development token (what ``gateway token`` prints). See ``DevIssuer.mint``."""
    return DevIssuer(settings).mint(subject, groups, tenant=tenant, ttl_seconds=ttl_seconds)


def key_directory(settings: Settings) -> Path:
    """Where the development key pair lives."""
    return settings.data_dir / "dev-issuer"


def _load_or_create_key(directory: Path) -> Ed25519PrivateKey:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / KEY_FILE_NAME
    if not path.exists():
        _create_key(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        logger.warning("development key %s had mode %o; tightened to 0600", path, mode)
        path.chmod(0o600)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def _create_key(path: Path) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Written to a private temporary file (created 0600, never wider), then hard-linked into place:
    # two processes starting at once both end up using whichever key landed first, and nobody
    # ever reads a half-written file.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
            logger.info("generated a development signing key in %s", path.parent)
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _thumbprint(jwk: dict[str, str]) -> str:
    # RFC 7638: the required members only, sorted, no whitespace.
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x")}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())
