"""Why a token was refused: a machine reason for logs and tests, a generic detail for the caller."""

from __future__ import annotations

import logging
from enum import StrEnum

from gateway.errors import AuthenticationError

logger = logging.getLogger("gateway.auth")

_MAX_LOGGED_KID = 64


class Reason(StrEnum):
    """Stable reason codes. Logged and kept on the exception; never sent to the caller."""

    MALFORMED = "malformed"
    ALGORITHM_REFUSED = "algorithm_refused"
    MISSING_KID = "missing_kid"
    UNKNOWN_KID = "unknown_kid"
    KEY_MISMATCH = "key_mismatch"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    ISSUED_IN_FUTURE = "issued_in_future"
    MISSING_CLAIM = "missing_claim"
    INVALID_CLAIM = "invalid_claim"
    WRONG_ISSUER = "wrong_issuer"
    WRONG_AUDIENCE = "wrong_audience"
    INVALID_SUBJECT = "invalid_subject"
    INVALID_TENANT = "invalid_tenant"
    INVALID_GROUPS = "invalid_groups"
    USERINFO_REFUSED = "userinfo_refused"
    INTROSPECTION_REFUSED = "introspection_refused"
    INACTIVE_TOKEN = "inactive_token"  # noqa: S105 - a reason code, not a secret
    OPAQUE_TOKENS_REFUSED = "opaque_tokens_refused"
    MISSING_TENANT = "missing_tenant"
    ISSUER_UNAVAILABLE = "issuer_unavailable"
    NO_ISSUER = "no_issuer"
    DEV_ISSUER_DISABLED = "dev_issuer_disabled"


class IssuerUnreachable(Exception):
    """The issuer's discovery document, JWKS or userinfo endpoint could not be used (internal)."""


class TokenRejected(AuthenticationError):
    """A bearer token was refused.

    Attributes:
        reason: The machine reason (for logs, metrics and tests).
        kid: The ``kid`` header of the token, when it had one (attacker-controlled: log it sanitised).
    """

    def __init__(self, reason: Reason, *, kid: str | None = None) -> None:
        # The caller gets the generic title only: telling an attacker *which* check failed helps them.
        super().__init__()
        self.reason = reason
        self.kid = kid

    def log(self) -> None:
        """Log the reason and the kid at DEBUG: never the token, its claims or any key material.

        DEBUG because anyone can cause one per request; operators see refusals through the
        ``gateway_auth_failures_total`` metric and a rate-limited security line (``gateway.api.security``).
        """
        logger.debug("token rejected: reason=%s kid=%s", self.reason.value, _printable_kid(self.kid))


def _printable_kid(kid: str | None) -> str:
    # The kid comes from the token header: cut it short and keep only printable ASCII, so a crafted
    # header cannot forge log lines or flood the log.
    if kid is None:
        return "-"
    cleaned = "".join(c if c.isascii() and c.isprintable() else "?" for c in kid[:_MAX_LOGGED_KID])
    return repr(cleaned)
