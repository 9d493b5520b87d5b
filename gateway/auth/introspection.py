"""RFC 7662 token introspection: what an introspection answer must say before we trust a token.

Userinfo (OIDC Core §5.3) only says *who* a token belongs to; any client of the IdP can obtain a
token that userinfo resolves. Introspection also says *for whom* the token was issued, so an
opaque token is accepted only when it is ``active``, not expired, from our issuer, an access token,
and issued for us: its ``aud`` names ``GATEWAY_OIDC_AUDIENCE``, or (IdPs that put the client
rather than the resource there) its ``client_id`` is one of ``GATEWAY_OIDC_ALLOWED_CLIENT_IDS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.auth.failure import Reason, TokenRejected
from gateway.settings import OIDCSettings

_ACCESS_TOKEN_TYPES = frozenset({"access_token", "bearer", "urn:ietf:params:oauth:token-type:access_token"})


def accepted_claims(body: object, oidc: OIDCSettings, *, issuer: str, now: float) -> Mapping[str, Any]:
    """The claims of an introspection answer that passes every check.

    Raises:
        TokenRejected: ``inactive_token``, ``expired``, ``wrong_issuer``, ``wrong_audience`` or
            ``invalid_claim`` (a malformed answer).
    """
    if not isinstance(body, dict):
        raise TokenRejected(Reason.INVALID_CLAIM)
    if body.get("active") is not True:
        raise TokenRejected(Reason.INACTIVE_TOKEN)
    token_type = body.get("token_type")
    if token_type is not None and str(token_type).lower() not in _ACCESS_TOKEN_TYPES:
        raise TokenRejected(Reason.INACTIVE_TOKEN)  # a refresh or ID token is no bearer credential
    exp = body.get("exp")
    if exp is not None and (
        not isinstance(exp, int | float) or isinstance(exp, bool) or exp <= now - oidc.leeway_seconds
    ):
        raise TokenRejected(Reason.EXPIRED)
    if "iss" in body and body["iss"] != issuer:
        raise TokenRejected(Reason.WRONG_ISSUER)
    if not _for_us(body, oidc):
        raise TokenRejected(Reason.WRONG_AUDIENCE)
    return body


def cache_seconds(body: Mapping[str, Any], oidc: OIDCSettings, *, now: float) -> float:
    """How long an accepted answer may be reused: the configured TTL, never past the token's ``exp``."""
    exp = body.get("exp")
    ttl = oidc.userinfo_cache_seconds
    return max(0.0, min(ttl, float(exp) - now)) if isinstance(exp, int | float) else ttl


def _for_us(body: Mapping[str, Any], oidc: OIDCSettings) -> bool:
    aud = body.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if oidc.audience in audiences:
        return True
    return bool(oidc.allowed_client_ids) and body.get("client_id") in oidc.allowed_client_ids
