"""Every error leaves as RFC 9457 problem+json with a request id; never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.openapi.spec import OpenAPI, OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Schema

from gateway.errors import AuthenticationError, Busy, GatewayError, RateLimited
from gateway.observability import request_id_var

log = logging.getLogger("gateway.errors")

PROBLEM_JSON = "application/problem+json"


def problem(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": f"https://gateway.invalid/problems/{code}",
        "title": title,
        "status": status,
        "code": code,
        "request_id": request_id_var.get(),
    }
    if detail:
        body["detail"] = detail
    if extra:
        body.update(extra)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def handle_gateway_error(_request: Request[Any, Any, Any], exc: GatewayError) -> Response[dict[str, Any]]:
    headers = None
    if isinstance(exc, AuthenticationError):
        headers = {"WWW-Authenticate": 'Bearer realm="gateway", error="invalid_token"'}
    elif isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.retry_after)}
    elif isinstance(exc, Busy):
        headers = {"Retry-After": "1"}
    detail = exc.detail if exc.status_code < 500 else None  # 5xx: code and request id only
    if exc.status_code >= 500:
        log.warning("dependency failure", extra={"code": exc.code, "status": exc.status_code})
    return problem(exc.status_code, exc.code, exc.title, detail, headers=headers)


def handle_http_exception(_request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    if isinstance(exc, NotAuthorizedException):
        return problem(
            401,
            "unauthenticated",
            "Authentication required",
            headers={"WWW-Authenticate": 'Bearer realm="gateway"'},
        )
    if isinstance(exc, ValidationException):
        errors = [{"key": e.get("key"), "message": e.get("message")} for e in (exc.extra or []) if isinstance(e, dict)]
        return problem(
            400,
            "invalid_request",
            "Invalid request",
            "the request body or parameters are invalid",
            extra={"errors": errors},
        )
    if status >= 500:
        return problem(status, "internal_error", "Internal error")
    return problem(status, f"http_{status}", exc.detail or "Error", headers=exc.headers)


def handle_unexpected(_request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.error("unhandled error", exc_info=exc)
    return problem(500, "internal_error", "Internal error")


PROBLEM_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["type", "title", "status", "code", "request_id"],
    properties={
        "type": Schema(type=OpenAPIType.STRING),
        "title": Schema(type=OpenAPIType.STRING),
        "status": Schema(type=OpenAPIType.INTEGER),
        "code": Schema(type=OpenAPIType.STRING),
        "request_id": Schema(type=OpenAPIType.STRING),
        "detail": Schema(type=OpenAPIType.STRING),
    },
    description="RFC 9457 problem details",
)


def document_problems(openapi: OpenAPI) -> None:
    """Say in the schema what every error really is: ``application/problem+json`` (RFC 9457).

    Litestar documents its validation errors as ``application/json`` with its own body; ours leave
    through the handlers above, so each 4xx/5xx response of every operation is rewritten in place.
    """
    for item in (openapi.paths or {}).values():
        for operation in (item.get, item.put, item.post, item.patch, item.delete):
            for status, response in ((operation.responses or {}) if operation else {}).items():
                if isinstance(response, OpenAPIResponse) and int(status) >= 400:
                    response.content = {PROBLEM_JSON: OpenAPIMediaType(schema=PROBLEM_SCHEMA)}
