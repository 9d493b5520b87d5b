"""Streamed answers as events (``delta``, ``done``, ``error``), independent of HTTP.

``AnswerPipeline.ask_stream`` produces them; the API turns them into server-sent events.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

from gateway.errors import GatewayError
from gateway.generation.base import Completion

log = logging.getLogger("gateway.pipeline")


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One server-sent event of a streamed answer: ``delta``, ``done`` or ``error``."""

    event: str
    data: dict[str, Any]


def guarded(first: StreamEvent, events: Generator[StreamEvent, None, None], request_id: str) -> Iterator[StreamEvent]:
    """The stream as the client sees it: a failure becomes an ``error`` event (code only)."""
    try:
        yield first
        yield from events
    except GatewayError as exc:
        yield StreamEvent("error", {"code": exc.code, "status": exc.status_code, "request_id": request_id})
    except Exception as exc:  # the type only: an exception's text may quote the answer
        log.error("streamed answer failed", extra={"request_id": request_id, "exc_type": type(exc).__name__})
        yield StreamEvent("error", {"code": "internal_error", "status": 500, "request_id": request_id})
    finally:
        events.close()  # a client that went away: the open row is written as failed


def done_event(completion: Completion, request_id: str) -> StreamEvent:
    """The closing event: the answer as audited, with its citations."""
    return StreamEvent("done", _done(completion, request_id))


def _done(completion: Completion, request_id: str) -> dict[str, Any]:
    return {
        "answer": completion.text,
        "answered": completion.answered,
        "generator": completion.generator,
        "citations": [citation_dict(c) for c in completion.citations],
        "request_id": request_id,
    }


def citation_dict(c: Any) -> dict[str, Any]:
    return {
        "marker": c.marker,
        "document_id": c.document_id,
        "chunk_id": c.chunk_id,
        "title": c.title,
        "version": c.version,
        "score": round(c.score, 6),
    }
