"""Strict request bodies: ``{"k": "5"}`` is a 400, not a 5; JSON nested too deeply is a 400, not a 500.

Litestar converts bodies with ``strict=False`` (strings become numbers) and decodes untyped JSON
first, where 1,000 nested arrays raise ``RecursionError``. ``strict_body(T)`` runs before that, as a
``before_request`` hook: msgspec decodes the raw bytes straight into ``T`` in strict mode, which
stops at the first value of the wrong type (so nesting never gets deep). Litestar's own parse then
sees only bodies that already passed, and yields the same values.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from litestar import Request

from gateway.errors import InvalidRequest

T = TypeVar("T")
_STATE_KEY = "strict_body"
_MAX_DETAIL = 300


async def decode_strict(request: Request[Any, Any, Any], struct: type[T]) -> T:
    """The body decoded strictly as ``struct`` (cached for the request).

    Raises:
        InvalidRequest: not JSON, nested too deeply, or not of the expected shape and types.
    """
    cached = request.state.get(_STATE_KEY)
    if isinstance(cached, struct):
        return cached
    raw = await request.body()
    try:
        value = msgspec.json.decode(raw, type=struct, strict=True)
    except msgspec.ValidationError as exc:
        # msgspec names the field and the expected type ("Expected `int`, got `str` - at `$.k`").
        raise InvalidRequest(f"invalid request body: {str(exc)[:_MAX_DETAIL]}") from None
    except (msgspec.DecodeError, RecursionError):
        raise InvalidRequest("the request body is not valid JSON (or is nested too deeply)") from None
    request.state[_STATE_KEY] = value
    return value


def strict_body(struct: type[Any]) -> Callable[[Request[Any, Any, Any]], Awaitable[None]]:
    """A ``before_request`` hook that refuses any body ``struct`` would not accept strictly."""

    async def check(request: Request[Any, Any, Any]) -> None:
        await decode_strict(request, struct)

    return check
