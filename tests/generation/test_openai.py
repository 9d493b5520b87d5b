"""The ``openai`` text model against an OpenAI-compatible server in the test (real HTTP, real SSE)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import GeneratorUnavailable
from gateway.generation.remote import OpenAITextModel
from tests.tinylm import Upstream

MESSAGES = ({"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "When are reports due?"})


def _text(model: OpenAITextModel, adapter: Any = None) -> str:
    return "".join(model.stream(MESSAGES, adapter, 10))


def test_the_streamed_answer_is_the_served_models_and_the_adapter_is_chosen_by_name(
    upstream: Upstream, openai_upstream: tuple[Upstream, str], tiny_adapters: dict[str, Any]
) -> None:
    remote = OpenAITextModel(openai_upstream[1], "tiny", timeout_seconds=30)
    acme = tiny_adapters["acme"]
    assert _text(remote) == "".join(upstream.model.stream(MESSAGES, None, 10))
    assert _text(remote, acme) == "".join(upstream.model.stream(MESSAGES, acme, 10))
    assert [r["model"] for r in upstream.requests] == ["tiny", "acme-tone"]
    assert all(r["stream"] is True and r["temperature"] == 0 for r in upstream.requests)


def test_a_failed_attempt_before_the_first_byte_is_retried(
    upstream: Upstream, openai_upstream: tuple[Upstream, str]
) -> None:
    upstream.fail_next, upstream.script = 1, ["ok"]
    assert _text(OpenAITextModel(openai_upstream[1], "tiny", retries=1)) == "ok"
    assert len(upstream.requests) == 2


@pytest.mark.parametrize(
    ("setup", "retries", "attempts"),
    [
        ({"fail_next": 5}, 1, 2),  # keeps failing: gives up after the retries
        ({"delay": 2.0}, 0, 1),  # slower than the timeout
    ],
)
def test_an_upstream_that_fails_or_is_too_slow_is_unavailable(
    upstream: Upstream, openai_upstream: tuple[Upstream, str], setup: dict[str, Any], retries: int, attempts: int
) -> None:
    for key, value in setup.items():
        setattr(upstream, key, value)
    upstream.script = ["late"]
    with pytest.raises(GeneratorUnavailable):
        _text(OpenAITextModel(openai_upstream[1], "tiny", retries=retries, timeout_seconds=0.5))
    assert len(upstream.requests) == attempts


def test_an_unknown_adapter_is_unavailable_without_retrying(
    upstream: Upstream, openai_upstream: tuple[Upstream, str]
) -> None:
    from gateway.generation.model import AdapterRef

    with pytest.raises(GeneratorUnavailable):
        _text(OpenAITextModel(openai_upstream[1], "tiny", retries=2), AdapterRef("nobody", 1, "/nowhere"))
    assert len(upstream.requests) == 1


def test_a_server_that_is_down_is_unavailable() -> None:
    with pytest.raises(GeneratorUnavailable):
        _text(OpenAITextModel("http://127.0.0.1:9/v1", "tiny", retries=1, timeout_seconds=1))
