"""The console's login at the IdP: authorization-code flow with PKCE, state and nonce.

The ID token is verified by the API's own issuer object (``gateway.auth.oidc.OIDCIssuer``): the
same discovery document, the same JWKS cache and the same algorithm allow-list, with the console's
client id as audience and the nonce this login sent.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

from gateway.auth.oidc import OIDCIssuer
from gateway.errors import AuthenticationError, ServiceUnavailable
from gateway.settings import Settings

MAX_TOKEN_RESPONSE = 1 << 20


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge) as RFC 7636 §4.1-4.2 define them."""
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def login_request(settings: Settings, authorization_endpoint: str, redirect_uri: str) -> tuple[str, dict[str, str]]:
    """The authorization URL and what the session must remember to finish the login."""
    verifier, challenge = pkce_pair()
    pending = {
        "state": secrets.token_urlsafe(32),
        "nonce": secrets.token_urlsafe(32),
        "verifier": verifier,
        "redirect_uri": redirect_uri,
    }
    params = {
        "response_type": "code",
        "client_id": settings.oidc.client_id or "",
        "redirect_uri": redirect_uri,
        "scope": settings.console.scopes,
        "state": pending["state"],
        "nonce": pending["nonce"],
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    separator = "&" if "?" in authorization_endpoint else "?"
    return f"{authorization_endpoint}{separator}{urlencode(params)}", pending


async def exchange_code(
    settings: Settings, issuer: OIDCIssuer, code: str, pending: Mapping[str, str]
) -> dict[str, Any]:
    """Trade the code (with the PKCE verifier) for tokens and return the verified ID token's claims.

    Raises:
        ServiceUnavailable: the IdP cannot be reached or answers nonsense (503).
        AuthenticationError: the IdP refused the code, or the ID token fails a check.
    """
    metadata = await issuer.metadata()
    if metadata.token_endpoint is None:
        raise ServiceUnavailable("Identity provider unavailable", code="idp_unavailable")
    client_id = settings.oidc.client_id or ""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": pending["redirect_uri"],
        "code_verifier": pending["verifier"],
        "client_id": client_id,
    }
    secret = settings.oidc.client_secret
    auth: httpx.Auth | None = httpx.BasicAuth(client_id, secret.get_secret_value()) if secret is not None else None
    try:
        async with httpx.AsyncClient(timeout=settings.oidc.http_timeout_seconds, follow_redirects=False) as http:
            response = await http.post(metadata.token_endpoint, data=form, auth=auth or httpx.USE_CLIENT_DEFAULT)
    except httpx.HTTPError:
        raise ServiceUnavailable("Identity provider unavailable", code="idp_unavailable") from None
    if response.status_code in (400, 401):
        raise AuthenticationError("the identity provider refused the login")
    if response.status_code != 200 or len(response.content) > MAX_TOKEN_RESPONSE:
        raise ServiceUnavailable("Identity provider unavailable", code="idp_unavailable")
    try:
        id_token = response.json().get("id_token")
    except (ValueError, AttributeError):
        raise ServiceUnavailable("Identity provider unavailable", code="idp_unavailable") from None
    if not isinstance(id_token, str):
        raise AuthenticationError("the identity provider sent no ID token")
    return await issuer.verify_id_token(id_token, client_id=client_id, nonce=pending["nonce"])


def end_session_url(endpoint: str, client_id: str, post_logout_redirect_uri: str) -> str:
    """RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2): by client id, no ID token kept."""
    params = {"client_id": client_id, "post_logout_redirect_uri": post_logout_redirect_uri}
    separator = "&" if "?" in endpoint else "?"
    return f"{endpoint}{separator}{urlencode(params)}"
