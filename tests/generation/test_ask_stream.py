"""``/v1/ask`` over HTTP with the ``openai`` generator: streaming, guards across deltas, citations,
conflicts, and the audit row (written before the stream closes; a failed write is an error event)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from gateway.app import create_app
from gateway.auth.principal import Principal
from gateway.deps import Services, build_services
from gateway.generation.base import NO_ANSWER
from gateway.generation.model import ModelGenerator
from gateway.generation.stream import RegexAnswerFilter
from gateway.ingest.documents import Submission
from gateway.ingest.trail import Context
from gateway.settings import GenerationSettings
from tests.e2e.conftest import TENANT, make_settings
from tests.e2e.test_audit_invariant import refuse_audit_inserts
from tests.tinylm import Upstream

Auth = Callable[..., dict[str, str]]
QUESTION = {"question": "How does the on-call rotation work?"}


class ContactFilter(RegexAnswerFilter):
    """A real regex answer filter standing in for the PII guard's hook."""

    patterns = (("EMAIL", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),)
    max_span = 40


@pytest.fixture
def services(data_dir: Path, openai_upstream: tuple[Upstream, str]) -> Iterator[Services]:
    # The model's raw text through the citation and answer filters: the grounding gate has its own test below.
    generation = {"base_url": openai_upstream[1], "model": "tiny", "retries": 0, "timeout_seconds": 1.5,
                  "max_new_tokens": 8, "grounded": False}  # fmt: skip
    svc = build_services(make_settings(data_dir, generator="openai", generation=generation))
    yield svc
    svc.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_app(services=services)) as c:
        yield c


def events(body: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in body.strip().split("\r\n\r\n" if "\r\n\r\n" in body else "\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        out.append((fields.get("event", "message"), json.loads(fields["data"])))
    return out


def last_ask(services: Services) -> dict[str, Any]:
    return services.audit.search(tenant=TENANT, limit=1, kind="ask")[0]


def test_a_streamed_answer_is_filtered_across_deltas_and_cites_only_what_was_retrieved(
    client: TestClient[Any], services: Services, upstream: Upstream, auth: Auth
) -> None:
    services.pipeline.answer_filters = [ContactFilter()]
    upstream.script = ["On-call rot", "ates weekly [S", "1][S", "9]. Page oncall@north", "wind.example now."]
    r = client.post("/v1/ask", json={**QUESTION, "stream": True}, headers=auth("alice", ["engineering"]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    evs = events(r.text)
    deltas, (kind, done) = [d["text"] for e, d in evs[:-1] if e == "delta"], evs[-1]
    assert kind == "done" and "".join(deltas) == done["answer"]
    assert done["answer"] == "On-call rotates weekly [1]. Page <EMAIL> now."
    assert "oncall@" not in r.text and "[S9]" not in r.text
    row = last_ask(services)
    assert [c["chunk_id"] for c in done["citations"]] == [c["chunk_id"] for c in row["citations"]]
    assert row["citations"][0]["chunk_id"] == row["retrieved"][0]["chunk_id"]
    assert (row["status"], row["answer"], row["request_id"]) == ("answered", done["answer"], done["request_id"])
    generation = row["details"]["generation"]
    assert (generation["generator"], generation["base_model"], generation["invented_citations"]) == (
        "openai-v1",
        "tiny",
        1,
    )
    assert row["guards"]["ContactFilter"] == {"removed": 1}


@pytest.mark.parametrize("stream", [False, True])
def test_by_default_an_uncited_or_unsupported_sentence_never_reaches_the_caller_and_the_row_counts_it(
    client: TestClient[Any], services: Services, upstream: Upstream, auth: Auth, stream: bool
) -> None:
    assert GenerationSettings().grounded  # the default; this file's fixture turns it off for the raw-text tests
    generator = services.pipeline.generator
    assert isinstance(generator, ModelGenerator)
    generator.grounded = True
    # an invented claim with no citation, then one citing a retrieved passage it does not come from
    upstream.script = ["Carshal LLP represents Northwind. ", "The board decided to acquire Tidewater Labs [S1]."]
    r = client.post("/v1/ask", json={**QUESTION, "stream": stream}, headers=auth("alice", ["engineering"]))
    assert r.status_code == 200
    answer = events(r.text)[-1][1]["answer"] if stream else r.json()["answer"]
    assert answer == NO_ANSWER and "Carshal" not in r.text and "Tidewater" not in r.text
    row = last_ask(services)
    assert row["answer"] == NO_ANSWER and row["details"]["generation"]["ungrounded_sentences"] == 2


def test_the_tiny_model_answers_through_http_without_streaming(
    client: TestClient[Any], services: Services, upstream: Upstream, auth: Auth
) -> None:
    r = client.post("/v1/ask", json=QUESTION, headers=auth("alice", ["engineering"]))
    assert r.status_code == 200 and r.json()["generator"] == "openai-v1"
    assert upstream.requests[0]["model"] == "tiny" and "<<source" in upstream.requests[0]["messages"][1]["content"]
    assert last_ask(services)["details"]["generation"]["adapter"] is None


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("fault", ["down", "slow"])
def test_an_unavailable_or_slow_model_is_503_with_a_failed_row(
    client: TestClient[Any], services: Services, upstream: Upstream, auth: Auth, fault: str, stream: bool
) -> None:
    if fault == "down":
        upstream.fail_next = 1
    else:
        upstream.delay, upstream.script = 3.0, ["late"]
    r = client.post("/v1/ask", json={**QUESTION, "stream": stream}, headers=auth("alice", ["engineering"]))
    assert r.status_code == 503 and r.json()["code"] == "generator_unavailable"
    assert "upstream" not in r.text and "127.0.0.1" not in r.text
    row = last_ask(services)
    assert (row["status"], row["details"]["error"], row["answer"]) == ("failed", "generator_unavailable", None)
    assert row["details"]["generation"]["generator"] == "openai-v1"


def test_a_stream_whose_audit_write_fails_ends_with_an_error_event(
    client: TestClient[Any], services: Services, upstream: Upstream, auth: Auth
) -> None:
    upstream.script = ["Weekly [S1]."]
    before = services.audit.verify().rows_checked
    refuse_audit_inserts(services)
    r = client.post("/v1/ask", json={**QUESTION, "stream": True}, headers=auth("alice", ["engineering"]))
    evs = events(r.text)
    assert [e for e, _ in evs][-1] == "error" and "done" not in [e for e, _ in evs]
    assert evs[-1][1]["code"] == "audit_unavailable"
    assert services.audit.verify().rows_checked == before


def test_conflicting_dated_sources_are_recorded_and_the_newest_is_named(
    client: TestClient[Any], services: Services, upstream: Upstream, auth: Auth
) -> None:
    ctx = Context(Principal("cli:test", TENANT), "conflict-docs")
    docs = [("travel-2024", "2024-01-10", 30), ("travel-2026", "2026-05-02", 14)]
    services.documents.put_many(ctx, [
        Submission(document_id=d, collection="public", title="Zephyr expense deadline",
                   text=f"Zephyr expense reports are due within {n} days of returning from travel.",
                   updated_at=datetime.fromisoformat(day))
        for d, day, n in docs
    ], checked=False)  # fmt: skip
    upstream.script = ["Within 14 days [S1]."]
    r = client.post(
        "/v1/ask", json={"question": "When are Zephyr expense reports due?"}, headers=auth("alice", ["staff"])
    )
    assert r.status_code == 200
    (conflict,) = last_ask(services)["details"]["generation"]["conflicts"]
    assert conflict["newest_document_id"] == "travel-2026"
    assert conflict["answer_cites_newest"] is (conflict["newest"] == "S1")  # the scripted answer cites S1
    prompt = upstream.requests[0]["messages"][1]["content"]
    assert f"{conflict['newest']} is the newest" in prompt and 'date="2026-05-02"' in prompt


def test_a_client_that_leaves_mid_stream_still_leaves_exactly_one_failed_row(
    client: TestClient[Any], services: Services, upstream: Upstream
) -> None:
    del client  # the running app: policy loaded, index open
    upstream.script = ["On-call ", "rotates ", "weekly. " * 40]
    before = services.audit.verify().rows_checked
    stream = services.pipeline.ask_stream(
        Principal("alice", TENANT, frozenset({"engineering"})), QUESTION["question"], k=4, collections=None,
        request_id="leaving",
    )  # fmt: skip
    assert next(stream).event == "delta"
    stream.close()  # type: ignore[attr-defined]
    assert services.audit.verify().rows_checked == before + 1
    row = last_ask(services)
    assert (row["request_id"], row["status"], row["details"]["exc_type"]) == ("leaving", "failed", "GeneratorExit")


def test_the_pii_guard_scrubs_a_stream_across_deltas_by_role_and_the_row_keeps_the_audit_copy(
    client: TestClient[Any], services: Services, upstream: Upstream, auth: Auth
) -> None:
    """The real PII guard on the stream: an address and a phone number split across deltas never leave
    for a caller whose roles may not see them; an hr caller sees them; no row holds them."""
    assert services.pipeline.pii is not None
    script = ["Page the on-call lead at jane.r", "oe@northwind-corp.com or (202) 555", "-0173 today [S1]."]
    upstream.script = list(script)
    r = client.post("/v1/ask", json={**QUESTION, "stream": True}, headers=auth("alice", ["engineering"]))
    evs = events(r.text)
    (kind, done) = evs[-1]
    assert kind == "done" and "".join(d["text"] for e, d in evs[:-1] if e == "delta") == done["answer"]
    assert "<EMAIL_ADDRESS>" in done["answer"] and "<PHONE_NUMBER>" in done["answer"]
    assert "northwind-corp" not in r.text and "555" not in r.text
    row = last_ask(services)
    assert row["guards"]["pii"]["replaced"] == {"EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1}
    assert row["answer"] == done["answer"]

    upstream.script = list(script)
    r = client.post("/v1/ask", json={**QUESTION, "stream": True}, headers=auth("harriet", ["engineering", "hr"]))
    (kind, done) = events(r.text)[-1]
    assert "jane.roe@northwind-corp.com" in done["answer"] and "(202) 555-0173" in done["answer"]
    row = last_ask(services)
    assert "northwind-corp" not in row["answer"] and "555-0173" not in row["answer"]
    assert row["guards"]["pii"]["detected"] == {"EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1}
