"""The configured OIDC issuer: discovery, JWT access tokens by JWKS, opaque tokens by introspection.

Opaque tokens are introspected (RFC 7662, ``gateway.auth.introspection``) when introspection
credentials are configured. Resolving them at userinfo instead is an explicit opt-in
(``GATEWAY_OIDC_ACCEPT_USERINFO_TOKENS``): userinfo cannot tell whether a token was issued for us.
Without either, opaque tokens are refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from gateway.auth.failure import IssuerUnreachable, Reason, TokenRejected
from gateway.auth.introspection import accepted_claims, cache_seconds
from gateway.auth.jwks import JWKSCache
from gateway.auth.jws import allowed_algorithms, decode_verified, key_for, read_header
from gateway.settings import OIDCSettings

logger = logging.getLogger("gateway.auth")

MAX_DOCUMENT_BYTES = 1 << 20
"""Discovery, JWKS and userinfo responses larger than this are refused (1 MiB)."""
NEGATIVE_CACHE_SECONDS = 5.0
"""A token the userinfo endpoint refused is remembered this long (bounded by the positive TTL)."""
MAX_USERINFO_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """The parts of the discovery document we use."""

    jwks_uri: str
    userinfo_endpoint: str | None
    introspection_endpoint: str | None = None
    authorization_endpoint: str | None = None
    """Where the console sends a browser to log in (authorization-code flow)."""
    token_endpoint: str | None = None
    end_session_endpoint: str | None = None
    """RP-initiated logout, when the IdP advertises it."""


class OIDCIssuer:
    """Verifies the tokens of the issuer named by ``GATEWAY_OIDC_ISSUER``."""

    def __init__(self, oidc: OIDCSettings, http: httpx.AsyncClient) -> None:
        if not oidc.issuer:
            raise ValueError("OIDCIssuer needs settings.oidc.issuer")
        self._oidc = oidc
        self._issuer: str = oidc.issuer
        self._http = http
        self._allowed = allowed_algorithms(oidc.algorithms)
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = 0.0
        self._jwks = JWKSCache(
            self._fetch_jwks,
            cache_seconds=oidc.jwks_cache_seconds,
            min_refresh_seconds=oidc.jwks_min_refresh_seconds,
            max_stale_seconds=oidc.jwks_max_stale_seconds,
        )
        self._userinfo_cache: dict[str, tuple[float, Mapping[str, Any] | Reason]] = {}

    @property
    def issuer(self) -> str:
        return self._issuer

    async def ready(self) -> None:
        """Raises ``IssuerUnreachable`` unless discovery and the JWKS can be loaded."""
        await self._jwks.ensure_loaded()

    async def verify_jwt(self, token: str) -> dict[str, Any]:
        """Verify a JWT access token against the issuer's JWKS; return its claims.

        Raises:
            TokenRejected: the token fails any check (see ``gateway.auth.jws``).
        """
        header = read_header(token, self._allowed)
        if header.kid is None:
            raise TokenRejected(Reason.MISSING_KID)
        jwk = await self._jwks.key(header.kid)
        return decode_verified(
            token,
            key_for(jwk, header),
            header,
            issuer=self._issuer,
            audience=self._oidc.audience,
            leeway=self._oidc.leeway_seconds,
        )

    async def metadata(self) -> ProviderMetadata:
        """The issuer's discovery document (cached like the JWKS).

        Raises:
            IssuerUnreachable: discovery cannot be loaded or names another issuer.
        """
        return await self._provider_metadata()

    async def verify_id_token(self, token: str, *, client_id: str, nonce: str) -> dict[str, Any]:
        """Verify an ID token from the authorization-code flow: the same JWKS, algorithms and
        checks as access tokens, with the client as audience and the login's ``nonce``.

        Raises:
            TokenRejected: any check fails (``invalid_claim`` for a wrong or missing nonce).
        """
        header = read_header(token, self._allowed)
        jwk = await self._jwks.key(header.kid) if header.kid is not None else await self._jwks.sole_key()
        if jwk is None:  # no kid and several keys: which one signed is not ours to guess
            raise TokenRejected(Reason.MISSING_KID)
        claims = decode_verified(
            token, key_for(jwk, header), header, issuer=self._issuer, audience=client_id,
            leeway=self._oidc.leeway_seconds,
        )  # fmt: skip
        if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(claims["nonce"], nonce):
            raise TokenRejected(Reason.INVALID_CLAIM, kid=header.kid)
        return claims

    async def opaque(self, token: str) -> Mapping[str, Any]:
        """The claims of an opaque token: introspected, or (opt-in only) resolved at userinfo.

        Raises:
            TokenRejected: refused by the IdP or by our checks; ``opaque_tokens_refused`` when
                neither introspection nor userinfo acceptance is configured.
        """
        if self._oidc.introspection_client_id and self._oidc.introspection_client_secret:
            return await self.introspect(token)
        if self._oidc.accept_userinfo_tokens:
            return await self.userinfo(token)
        raise TokenRejected(Reason.OPAQUE_TOKENS_REFUSED)

    async def introspect(self, token: str) -> Mapping[str, Any]:
        """RFC 7662 introspection with our client credentials; accepted answers cached by token hash.

        Raises:
            TokenRejected: inactive, expired, not for us, or ``issuer_unavailable``.
        """
        digest = "i:" + hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        cached = self._userinfo_cache.get(digest)
        if cached is not None and cached[0] > now:
            if isinstance(cached[1], Reason):
                raise TokenRejected(cached[1])
            return cached[1]
        try:
            status, body = await self._introspection_call(token)
        except IssuerUnreachable as exc:
            logger.warning("introspection unavailable: %s", exc)
            raise TokenRejected(Reason.ISSUER_UNAVAILABLE) from None
        if status in (400, 401, 403) or (status == 200 and not isinstance(body, dict)):
            logger.warning("introspection refused our request (HTTP %d): check the client credentials", status)
            raise TokenRejected(Reason.ISSUER_UNAVAILABLE)
        if status != 200:
            raise TokenRejected(Reason.ISSUER_UNAVAILABLE)
        try:
            claims = accepted_claims(body, self._oidc, issuer=self._issuer, now=time.time())
        except TokenRejected as refused:
            ttl = min(NEGATIVE_CACHE_SECONDS, self._oidc.userinfo_cache_seconds)
            self._remember(digest, now + ttl, refused.reason)
            raise
        self._remember(digest, now + cache_seconds(claims, self._oidc, now=time.time()), claims)
        return claims

    async def _introspection_call(self, token: str) -> tuple[int, object]:
        endpoint = self._oidc.introspection_endpoint or (await self._provider_metadata()).introspection_endpoint
        if endpoint is None:
            raise IssuerUnreachable("discovery names no introspection_endpoint")
        secret = self._oidc.introspection_client_secret
        auth = (self._oidc.introspection_client_id or "", secret.get_secret_value() if secret else "")
        form = {"token": token, "token_type_hint": "access_token"}
        try:
            response = await self._http.post(endpoint, data=form, auth=auth, headers={"Accept": "application/json"})
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise IssuerUnreachable(f"{type(exc).__name__} from the issuer") from None
        if len(response.content) > MAX_DOCUMENT_BYTES:
            raise IssuerUnreachable("response too large")
        if response.status_code != 200:
            return response.status_code, None
        try:
            return 200, response.json()
        except ValueError:
            raise IssuerUnreachable("response is not JSON") from None

    async def userinfo(self, token: str) -> Mapping[str, Any]:
        """Resolve an opaque access token at the userinfo endpoint; results cached by token hash.

        Raises:
            TokenRejected: ``userinfo_refused`` (the IdP said no) or ``issuer_unavailable``.
        """
        # Keyed by a hash so the cache never holds usable tokens.
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        cached = self._userinfo_cache.get(digest)
        if cached is not None and cached[0] > now:
            if isinstance(cached[1], Reason):
                raise TokenRejected(cached[1])
            return cached[1]
        claims = await self._fetch_userinfo(token, digest, now)
        self._remember(digest, now + self._oidc.userinfo_cache_seconds, claims)
        return claims

    async def _fetch_userinfo(self, token: str, digest: str, now: float) -> Mapping[str, Any]:
        try:
            endpoint = (await self._provider_metadata()).userinfo_endpoint
            if endpoint is None:
                raise IssuerUnreachable("discovery names no userinfo_endpoint")
            status, body = await self._get_json(endpoint, {"Authorization": f"Bearer {token}"})
        except IssuerUnreachable as exc:
            logger.warning("userinfo unavailable: %s", exc)
            raise TokenRejected(Reason.ISSUER_UNAVAILABLE) from None
        if status in (400, 401, 403):
            # Only a definite "no" is remembered, and briefly; outages are never cached.
            ttl = min(NEGATIVE_CACHE_SECONDS, self._oidc.userinfo_cache_seconds)
            self._remember(digest, now + ttl, Reason.USERINFO_REFUSED)
            raise TokenRejected(Reason.USERINFO_REFUSED)
        if status != 200 or not isinstance(body, dict):
            logger.warning("userinfo answered HTTP %d", status)
            raise TokenRejected(Reason.ISSUER_UNAVAILABLE)
        return body

    def _remember(self, digest: str, expires_at: float, value: Mapping[str, Any] | Reason) -> None:
        if len(self._userinfo_cache) >= MAX_USERINFO_ENTRIES:
            now = time.monotonic()
            self._userinfo_cache = {k: v for k, v in self._userinfo_cache.items() if v[0] > now}
            while len(self._userinfo_cache) >= MAX_USERINFO_ENTRIES:  # still full: drop the oldest
                del self._userinfo_cache[next(iter(self._userinfo_cache))]
        self._userinfo_cache[digest] = (expires_at, value)

    async def _fetch_jwks(self) -> object:
        metadata = await self._provider_metadata()
        status, body = await self._get_json(metadata.jwks_uri)
        if status != 200:
            raise IssuerUnreachable(f"JWKS answered HTTP {status}")
        return body

    async def _provider_metadata(self) -> ProviderMetadata:
        now = time.monotonic()
        if self._metadata is not None and now - self._metadata_at < self._oidc.jwks_cache_seconds:
            return self._metadata
        url = self._issuer.rstrip("/") + "/.well-known/openid-configuration"
        status, body = await self._get_json(url)
        if status != 200 or not isinstance(body, dict):
            raise IssuerUnreachable(f"discovery answered HTTP {status}")
        # OIDC Discovery §4.3: the document must name exactly the issuer we asked, else it is
        # someone else's configuration (or a misconfiguration) and none of its URLs are trusted.
        jwks_uri, userinfo = body.get("jwks_uri"), body.get("userinfo_endpoint")
        introspection = body.get("introspection_endpoint")
        if body.get("issuer") != self._issuer or not _is_http_url(jwks_uri):
            raise IssuerUnreachable("discovery document names another issuer or no jwks_uri")
        self._metadata = ProviderMetadata(
            jwks_uri=str(jwks_uri),
            userinfo_endpoint=str(userinfo) if _is_http_url(userinfo) else None,
            introspection_endpoint=str(introspection) if _is_http_url(introspection) else None,
            authorization_endpoint=_url_or_none(body.get("authorization_endpoint")),
            token_endpoint=_url_or_none(body.get("token_endpoint")),
            end_session_endpoint=_url_or_none(body.get("end_session_endpoint")),
        )
        self._metadata_at = now
        return self._metadata

    async def _get_json(self, url: str, headers: Mapping[str, str] | None = None) -> tuple[int, object]:
        """GET ``url``; (status, parsed JSON or None). Transport errors and oversize bodies raise."""
        request_headers = {"Accept": "application/json", **(headers or {})}
        try:
            async with self._http.stream("GET", url, headers=request_headers) as r:
                if r.status_code != 200:
                    return r.status_code, None
                body = bytearray()
                async for chunk in r.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise IssuerUnreachable("response too large")
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise IssuerUnreachable(f"{type(exc).__name__} from the issuer") from None
        try:
            return 200, json.loads(body)
        except ValueError:
            raise IssuerUnreachable("response is not JSON") from None


def _url_or_none(value: object) -> str | None:
    return str(value) if _is_http_url(value) else None


def _is_http_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://"))
