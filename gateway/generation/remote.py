"""The ``openai`` text model: any OpenAI-compatible chat-completions endpoint, streamed over SSE.

vLLM serves a base model with LoRA adapters by name (``--lora-modules name=path``), so the
tenant's adapter is selected with ``model=<adapter name>``; without one the base model's name is
used. Connection errors, timeouts, 429 and 5xx are retried (with backoff) until the first byte of
the answer arrives; after that a failure ends the answer with 503 rather than a half answer.
Every failure is ``GeneratorUnavailable``: nothing about the upstream reaches the caller.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from gateway.errors import GeneratorUnavailable
from gateway.generation.model import AdapterInfo

log = logging.getLogger("gateway.generation.remote")

_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class OpenAITextModel:
    """A ``TextModel`` over ``POST {base_url}/chat/completions`` with ``stream: true``.

    Args:
        base_url: e.g. ``http://vllm:8000/v1``.
        model: the base model's served name (used when the tenant has no adapter).
        api_key: sent as a bearer token when set; never logged.
        timeout_seconds: connect/read timeout of each attempt, and the most one answer may take.
        retries: further attempts after a retryable failure before the first byte.
        max_concurrency: requests in flight upstream; more get 503 at once.
    """

    kind = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_seconds: float = 60.0,
        retries: int = 2,
        max_concurrency: int = 8,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=httpx.Timeout(timeout_seconds), transport=transport
        )
        self._model = model
        self.timeout_seconds = timeout_seconds
        self.retries = retries
        self._slots = threading.BoundedSemaphore(max_concurrency)

    @property
    def base_model(self) -> str:
        return self._model

    def close(self) -> None:
        self._client.close()

    def stream(
        self, messages: Sequence[dict[str, str]], adapter: AdapterInfo | None, max_new_tokens: int
    ) -> Iterator[str]:
        if not self._slots.acquire(blocking=False):
            raise GeneratorUnavailable("the answer model is busy", code="generator_busy")
        try:
            body = {
                "model": adapter.name if adapter is not None else self._model,
                "messages": list(messages),
                "max_tokens": max_new_tokens,
                "temperature": 0,
                "stream": True,
            }
            yield from self._stream(body, time.monotonic() + self.timeout_seconds)
        finally:
            self._slots.release()

    def _stream(self, body: dict[str, Any], deadline: float) -> Iterator[str]:
        for attempt in range(self.retries + 1):
            started = False
            try:
                with self._client.stream("POST", "/chat/completions", json=body) as response:
                    if response.status_code != 200:
                        retry = response.status_code in _RETRY_STATUS
                        self._failed(f"status {response.status_code}", retry=retry, attempt=attempt)
                        continue
                    for piece in _sse_deltas(response.iter_lines()):
                        started = True
                        if time.monotonic() > deadline:
                            raise GeneratorUnavailable("the answer model did not answer in time")
                        yield piece
                    return
            except (httpx.TransportError, ValueError) as exc:
                self._failed(type(exc).__name__, retry=not started, attempt=attempt)
            if time.monotonic() > deadline:
                break
            time.sleep(min(2.0, 0.2 * 2**attempt))
        raise GeneratorUnavailable()

    def _failed(self, reason: str, *, retry: bool, attempt: int) -> None:
        log.warning("answer model request failed", extra={"reason": reason, "attempt": attempt})
        if not retry or attempt >= self.retries:
            raise GeneratorUnavailable()


def _sse_deltas(lines: Iterator[str]) -> Iterator[str]:
    """The content pieces of an OpenAI chat-completions event stream, until ``[DONE]``."""
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        event = json.loads(data)
        for choice in event.get("choices", ()):
            content = (choice.get("delta") or {}).get("content")
            if content:
                yield content
