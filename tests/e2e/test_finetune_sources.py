"""Answered audit records as fine-tuning examples: only what the adapter's whole audience may read.

Weights carry no ACL: an answer that cites an engineering-only document must not teach an adapter
served to all staff. The questions are asked over HTTP; the real policy decides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient

from gateway.deps import Services
from gateway.finetune.dataset import RestrictedSources, check_audience
from gateway.finetune.sources import audience_reader, audit_sources

TENANT = "northwind"


def _ask(client: TestClient[Any], auth: Callable[..., dict[str, str]], question: str) -> None:
    headers = auth("alice", ["engineering", "sre", "staff"])
    response = client.post("/v1/ask", json={"question": question}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["citations"], response.text


def _sequence(services: Services, question: str) -> int:
    rows = services.audit.search(tenant=TENANT, kind="ask", limit=20)
    return int(next(r["sequence"] for r in rows if r["question"] == question))


def test_an_answer_citing_a_restricted_document_is_refused_and_named(
    client: TestClient[Any], auth: Callable[..., dict[str, str]], services: Services
) -> None:
    public_q, private_q = "What is the gift limit per year?", "How long is the on-call rotation?"
    _ask(client, auth, public_q)
    _ask(client, auth, private_q)
    public_seq, private_seq = _sequence(services, public_q), _sequence(services, private_q)
    readable = audience_reader(services.policy.current(), services.documents.find, TENANT, ["staff"])
    [public] = audit_sources(services.audit, TENANT, [public_seq])
    assert public.examples[0].prompt == public_q and public.examples[0].completion
    check_audience([public], readable)  # all staff may read what it cites
    sources = audit_sources(services.audit, TENANT, [public_seq, private_seq])
    with pytest.raises(RestrictedSources) as refused:
        check_audience(sources, readable)
    assert f"audit:{private_seq} (document eng-oncall-rotation)" in refused.value.detail
    assert f"audit:{public_seq}" not in refused.value.detail


def test_only_answered_questions_of_the_tenant_are_sources(
    client: TestClient[Any], auth: Callable[..., dict[str, str]], services: Services
) -> None:
    question = "What is the gift limit per year?"
    _ask(client, auth, question)
    seq = _sequence(services, question)
    from gateway.errors import InvalidRequest

    with pytest.raises(InvalidRequest):
        audit_sources(services.audit, "contoso", [seq])
    with pytest.raises(InvalidRequest):
        audit_sources(services.audit, TENANT, [seq + 1000])
