"""One exception hierarchy; one handler (``gateway.api.problems``) maps it to problem+json.

Messages in ``detail`` are written for the caller: never put ``str(exc)`` of a foreign
exception, a stack trace, a secret or raw user data in them.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base class: an error with a stable machine code, an HTTP status and a caller-safe detail."""

    status_code: int = 500
    code: str = "internal_error"
    title: str = "Internal error"

    def __init__(self, detail: str | None = None, *, code: str | None = None) -> None:
        self.detail = detail or self.title
        if code is not None:
            self.code = code
        super().__init__(self.detail)


class AuthenticationError(GatewayError):
    """No valid credentials. The reason is logged, never sent to the caller."""

    status_code = 401
    code = "unauthenticated"
    title = "Authentication required"


class PermissionDenied(GatewayError):
    status_code = 403
    code = "forbidden"
    title = "Forbidden"


class NotFound(GatewayError):
    status_code = 404
    code = "not_found"
    title = "Not found"


class InvalidRequest(GatewayError):
    status_code = 400
    code = "invalid_request"
    title = "Invalid request"


class Conflict(GatewayError):
    status_code = 409
    code = "conflict"
    title = "Conflict"


class ServiceUnavailable(GatewayError):
    """A dependency we must not work without (policy store, search backend, audit store) is down."""

    status_code = 503
    code = "unavailable"
    title = "Service unavailable"


class PolicyUnavailable(ServiceUnavailable):
    code = "policy_unavailable"
    title = "Policy store unavailable"


class SearchUnavailable(ServiceUnavailable):
    code = "search_unavailable"
    title = "Search backend unavailable"


class AuditUnavailable(ServiceUnavailable):
    code = "audit_unavailable"
    title = "Audit store unavailable"


class RateLimited(GatewayError):
    """The caller (or its tenant) made too many requests; ``retry_after`` seconds until the next one."""

    status_code = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, retry_after: int, *, scope: str) -> None:
        super().__init__(f"too many requests for this {scope}; retry after {retry_after} s")
        self.retry_after = max(1, retry_after)
        self.scope = scope


class Busy(ServiceUnavailable):
    """Every slot of an expensive stage stayed taken for the whole queue wait."""

    code = "busy"
    title = "Busy"


class StageTimeout(ServiceUnavailable):
    """A stage (retrieval, generation) did not finish within its bound."""

    code = "timeout"
    title = "Timed out"


class ModelUnavailable(ServiceUnavailable):
    code = "model_unavailable"
    title = "Model backend unavailable"


class GeneratorUnavailable(ServiceUnavailable):
    """The answer model is not loaded, not reachable, too busy or too slow: fail closed."""

    code = "generator_unavailable"
    title = "Answer model unavailable"
