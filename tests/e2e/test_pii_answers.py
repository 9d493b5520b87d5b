"""The PII guard through HTTP: answers scrubbed by role, and neither the audit nor the logs keep raw PII."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from gateway.deps import Services

Auth = Callable[..., dict[str, str]]

RAW = {
    "EMAIL_ADDRESS": "dana.whitfield@northwind-corp.com",
    "PHONE_NUMBER": "(415) 555-0132",
    "US_SSN": "536-22-8714",
    "CREDIT_CARD": "4111 1111 1111 1111",
    "IBAN_CODE": "DE89 3704 0044 0532 0130 00",
    "API_KEY": "sk-proj-Zq8Lw3Nf5Rt1Yp7Hs2Kd9Vb",
}
PAYROLL = {
    "id": "hr/payroll-contacts",
    "title": "Payroll corrections contacts",
    "collection": "public",
    "text": (
        "# Payroll corrections\n\n"
        f"Payroll corrections go to the payroll lead by email at {RAW['EMAIL_ADDRESS']} or by phone on "
        f"{RAW['PHONE_NUMBER']}. The payroll lead verifies the employee SSN {RAW['US_SSN']} before a correction. "
        f"Refunds of payroll corrections are paid from card {RAW['CREDIT_CARD']} or to IBAN {RAW['IBAN_CODE']}. "
        f"The payroll corrections tool uses the api_key={RAW['API_KEY']} for the payroll corrections export.\n"
    ),
}
QUESTION = f"Who handles payroll corrections? My email is {RAW['EMAIL_ADDRESS']} and my phone {RAW['PHONE_NUMBER']}"
FOLLOW_UPS = (
    "How does the payroll lead verify the employee before a correction?",
    "Where are refunds of payroll corrections paid from?",
    "Which key does the payroll corrections export use?",
)


@pytest.fixture
def payroll(client: TestClient[Any], auth: Auth) -> None:
    r = client.post("/v1/documents", json=PAYROLL, headers=auth("root", ["gateway-admins", "staff"]))
    assert r.status_code == 201, r.text


def _ask(client: TestClient[Any], headers: dict[str, str], question: str = QUESTION) -> dict[str, Any]:
    r = client.post("/v1/ask", json={"question": question}, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["citations"] and body["citations"][0]["document_id"] == PAYROLL["id"]
    return body


def _answers(client: TestClient[Any], headers: dict[str, str]) -> str:
    """Every answer about the document, joined (the extractive generator quotes the best sentences)."""
    return "\n".join(_ask(client, headers, q)["answer"] for q in (QUESTION, *FOLLOW_UPS))


def test_staff_see_typed_placeholders_for_every_pii_value(client: TestClient[Any], auth: Auth, payroll: None) -> None:
    answer = _answers(client, auth("bob", ["staff"]))
    assert not [kind for kind, value in RAW.items() if value in answer]
    assert all(f"<{kind}>" in answer for kind in RAW), answer


def test_hr_sees_email_and_phone_but_never_ids_cards_or_secrets(
    client: TestClient[Any], auth: Auth, payroll: None
) -> None:
    answer = _answers(client, auth("hannah", ["staff", "hr"]))
    assert RAW["EMAIL_ADDRESS"] in answer and RAW["PHONE_NUMBER"] in answer
    hidden = ("US_SSN", "CREDIT_CARD", "IBAN_CODE", "API_KEY")
    assert not [kind for kind in hidden if RAW[kind] in answer]
    assert all(f"<{kind}>" in answer for kind in hidden)


def test_the_audit_row_counts_per_type_with_guard_name_and_version(
    client: TestClient[Any], auth: Auth, services: Services, payroll: None
) -> None:
    request_id = _ask(client, auth("bob", ["staff"]))["request_id"]
    rows = services.audit.search(tenant="northwind", subject="bob", kind="ask", limit=5, before_sequence=None)
    row = next(r for r in rows if r["request_id"] == request_id)
    outcome = row["guards"]["pii"]
    assert outcome["guard"] == "pii" and outcome["version"].startswith("1+presidio")
    assert outcome["replaced"] == {"EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1}, outcome
    assert "<EMAIL_ADDRESS>" in row["question"] and "<PHONE_NUMBER>" in row["question"]


def test_neither_audit_rows_nor_logs_hold_raw_pii_after_asking_about_a_pii_document(
    client: TestClient[Any], auth: Auth, services: Services, payroll: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for subject, groups in (("bob", ["staff"]), ("hannah", ["staff", "hr"])):
        _answers(client, auth(subject, groups))
        client.post("/v1/search", json={"query": QUESTION}, headers=auth(subject, groups))
    rows = services.audit.search(tenant="northwind", subject=None, kind=None, limit=500, before_sequence=None)
    with services.engine.connect() as conn:  # the stored columns themselves, not only the API's view
        stored = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM audit_log"))]
    dumped = json.dumps(rows, default=str) + json.dumps(stored, default=str)
    assert not [kind for kind, value in RAW.items() if value in dumped]
    assert not [kind for kind, value in RAW.items() if value in caplog.text]


def test_ingest_labels_the_document_with_pii_types_and_counts(
    client: TestClient[Any], auth: Auth, services: Services, payroll: None
) -> None:
    info = client.get(f"/v1/documents/{PAYROLL['id']}", headers=auth("bob", ["staff"])).json()
    assert info["pii"]["bearing"] is True
    assert info["pii"]["types"]["EMAIL_ADDRESS"] == 1 and info["pii"]["types"]["US_SSN"] == 1
    assert info["pii"]["types"]["API_KEY"] == 1 and info["pii"]["types"]["IBAN_CODE"] == 1
    rows = services.audit.search(tenant="northwind", subject="root", kind="ingest", limit=5, before_sequence=None)
    assert any(r["details"].get("screening", {}).get("pii", {}).get("bearing") for r in rows)
