"""The one entry point of authentication: a bearer token in, a ``Principal`` out.

Routing (the unverified ``iss`` is read only to choose a verifier, never to trust anything):

* a JWT from the development issuer → the local key, and only when ``settings.dev_issuer`` is on;
* any other JWT → the configured OIDC issuer's JWKS;
* anything else (an opaque token) → RFC 7662 introspection at the issuer (or, opted in, userinfo).

With neither an issuer nor the development issuer configured, every token fails.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx

from gateway.auth.claims import principal_from_claims
from gateway.auth.dev import DEV_ISSUER, DevIssuer
from gateway.auth.failure import IssuerUnreachable, Reason, TokenRejected
from gateway.auth.jws import looks_like_jwt, peek_issuer
from gateway.auth.oidc import OIDCIssuer
from gateway.auth.principal import Principal
from gateway.errors import ServiceUnavailable
from gateway.settings import Settings

MAX_TOKEN_LENGTH = 16_384
# RFC 6750 b64token: what a bearer token may contain at all. Anything else is refused before it
# reaches a parser or the IdP.
_BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class TokenVerifier:
    """Verifies bearer tokens for the app: JWTs by JWKS, opaque tokens by userinfo, dev tokens locally."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None) -> None:
        self._settings = settings
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=settings.oidc.http_timeout_seconds, follow_redirects=False)
        self._oidc = OIDCIssuer(settings.oidc, self._http) if settings.oidc.issuer else None
        self._dev = DevIssuer(settings) if settings.dev_issuer else None

    @property
    def oidc(self) -> OIDCIssuer | None:
        """The configured issuer (the console's login flow shares its discovery and JWKS)."""
        return self._oidc

    async def verify(self, token: str) -> Principal:
        """The principal a bearer token vouches for.

        Raises:
            AuthenticationError: a ``TokenRejected`` whose ``reason`` says why (it is also logged).
            ServiceUnavailable: the issuer cannot be reached and no usable key is cached (503).
        """
        try:
            return principal_from_claims(await self._claims(token), self._settings.oidc)
        except TokenRejected as exc:
            exc.log()
            if exc.reason is Reason.ISSUER_UNAVAILABLE:
                # Not the caller's fault and not a verdict on the token: 503 (retry), never a pass.
                raise ServiceUnavailable("Identity provider unavailable", code="idp_unavailable") from None
            raise

    async def ready(self) -> None:
        """Raise ``ServiceUnavailable`` unless the issuer's discovery document and JWKS load.

        The development issuer alone is always ready.
        """
        if self._oidc is None:
            return
        try:
            await self._oidc.ready()
        except IssuerUnreachable:
            raise ServiceUnavailable("Identity provider unavailable", code="idp_unavailable") from None

    async def aclose(self) -> None:
        """Close the HTTP client if this verifier created it."""
        if self._owns_http:
            await self._http.aclose()

    async def _claims(self, token: str) -> Mapping[str, Any]:
        if len(token) > MAX_TOKEN_LENGTH or not _BEARER_TOKEN.fullmatch(token):
            raise TokenRejected(Reason.MALFORMED)
        if not looks_like_jwt(token):
            if self._oidc is None:
                raise TokenRejected(Reason.NO_ISSUER)
            return await self._oidc.opaque(token)
        if peek_issuer(token) == DEV_ISSUER:
            if self._dev is None:
                raise TokenRejected(Reason.DEV_ISSUER_DISABLED)
            return self._dev.verify(token)
        if self._oidc is None:
            raise TokenRejected(Reason.NO_ISSUER)
        return await self._oidc.verify_jwt(token)
