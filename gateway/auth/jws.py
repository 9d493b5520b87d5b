"""JWS rules shared by every issuer: header checks, key/algorithm consistency, claim checks.

Security decisions, in one place:

* Algorithms come from an allow-list; ``none`` and every ``HS*`` are refused whatever it says
  (an IdP never shares a secret with us, and ``HS256`` keyed with a public key is a classic forgery).
* ``jku``, ``x5u``, ``x5c`` and ``jwk`` headers are never read: the key comes only from the
  issuer's own JWKS, looked up by ``kid``.
* The JWK must fit the token's ``alg`` (``kty``, curve, its own ``alg`` and ``use``), and PyJWT is
  handed a key bound to that one algorithm.
* ``exp``, ``iss`` and ``aud`` are required; ``nbf`` and ``iat`` are checked here so that
  "not yet valid" and "issued in the future" stay distinguishable.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from gateway.auth.failure import Reason, TokenRejected

# Three base64url segments: a compact JWS. (A JWE has five and is not accepted.)
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")

# alg → (kty, accepted curves or None when the key type has no curve).
_KEY_SHAPES: dict[str, tuple[str, frozenset[str] | None]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
}


@dataclass(frozen=True, slots=True)
class TokenHeader:
    """The two header fields we act on."""

    alg: str
    kid: str | None


def looks_like_jwt(token: str) -> bool:
    """Whether ``token`` has the shape of a compact JWS (otherwise it is treated as opaque)."""
    return _COMPACT_JWS.fullmatch(token) is not None


def allowed_algorithms(configured: Iterable[str]) -> frozenset[str]:
    """The configured algorithms we can verify with a public key; ``none``/``HS*`` never get through."""
    return frozenset(a for a in configured if a in _KEY_SHAPES)


def read_header(token: str, allowed: frozenset[str]) -> TokenHeader:
    """Parse the (unverified) header and refuse what must never be verified.

    Raises:
        TokenRejected: malformed header, an algorithm outside ``allowed``, or a critical extension.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenRejected(Reason.MALFORMED) from None
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise TokenRejected(Reason.MALFORMED)
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in allowed:
        raise TokenRejected(Reason.ALGORITHM_REFUSED, kid=kid)
    # We implement no JWS extension, so a header that marks one critical (or asks for an unencoded
    # payload) must be refused (RFC 7515 §4.1.11).
    if "crit" in header or "b64" in header:
        raise TokenRejected(Reason.MALFORMED, kid=kid)
    return TokenHeader(alg=alg, kid=kid)


def peek_issuer(token: str) -> str | None:
    """The ``iss`` claim, UNVERIFIED: only to choose which verifier runs, never to trust anything."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise TokenRejected(Reason.MALFORMED) from None
    iss = claims.get("iss")
    return iss if isinstance(iss, str) else None


def key_for(jwk: Mapping[str, Any], header: TokenHeader) -> jwt.PyJWK:
    """A verification key bound to the token's algorithm, if the JWK is fit for it.

    Raises:
        TokenRejected: ``key_mismatch`` when the JWK's type, curve, ``alg`` or ``use`` disagree.
    """
    kty, curves = _KEY_SHAPES[header.alg]
    if (
        jwk.get("kty") != kty
        or (curves is not None and jwk.get("crv") not in curves)
        or jwk.get("alg", header.alg) != header.alg
        or jwk.get("use", "sig") != "sig"
    ):
        raise TokenRejected(Reason.KEY_MISMATCH, kid=header.kid)
    public = {k: v for k, v in jwk.items() if k not in _PRIVATE_MEMBERS}
    try:
        return jwt.PyJWK(public, algorithm=header.alg)
    except (jwt.PyJWTError, ValueError, TypeError):  # a malformed JWK must refuse, never crash
        raise TokenRejected(Reason.KEY_MISMATCH, kid=header.kid) from None


# Private-key members of a JWK: a JWKS should never carry them; drop them if one does.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

_DECODE_ERRORS: tuple[tuple[type[jwt.PyJWTError], Reason], ...] = (
    (jwt.ExpiredSignatureError, Reason.EXPIRED),
    (jwt.InvalidAudienceError, Reason.WRONG_AUDIENCE),
    (jwt.InvalidIssuerError, Reason.WRONG_ISSUER),
    (jwt.MissingRequiredClaimError, Reason.MISSING_CLAIM),
    (jwt.InvalidSignatureError, Reason.BAD_SIGNATURE),
    (jwt.InvalidAlgorithmError, Reason.ALGORITHM_REFUSED),
    (jwt.InvalidKeyError, Reason.KEY_MISMATCH),
    (jwt.DecodeError, Reason.MALFORMED),
    (jwt.InvalidTokenError, Reason.INVALID_CLAIM),
)


def decode_verified(
    token: str, key: jwt.PyJWK, header: TokenHeader, *, issuer: str, audience: str, leeway: float
) -> dict[str, Any]:
    """Verify signature and claims; return the claims.

    Raises:
        TokenRejected: with the reason of the first failed check.
    """
    try:
        claims = jwt.decode(
            token,
            key=key,
            algorithms=[header.alg],
            issuer=issuer,
            audience=audience,
            leeway=leeway,
            options={
                "require": ["exp", "iss", "aud"],
                "verify_nbf": False,
                "verify_iat": False,
                "enforce_minimum_key_length": True,
            },
        )
    except jwt.PyJWTError as exc:
        raise TokenRejected(_reason_for(exc), kid=header.kid) from None
    _check_not_after_now(claims, "nbf", leeway, Reason.NOT_YET_VALID, header.kid)
    _check_not_after_now(claims, "iat", leeway, Reason.ISSUED_IN_FUTURE, header.kid)
    return claims


def _reason_for(exc: jwt.PyJWTError) -> Reason:
    for error_type, reason in _DECODE_ERRORS:
        if isinstance(exc, error_type):
            return reason
    return Reason.MALFORMED


def _check_not_after_now(claims: Mapping[str, Any], name: str, leeway: float, reason: Reason, kid: str | None) -> None:
    if name not in claims:
        return
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenRejected(Reason.INVALID_CLAIM, kid=kid)
    if value > time.time() + leeway:
        raise TokenRejected(reason, kid=kid)
