"""Writes are authorised against the document as it exists (issue 7, items 2, 6 and 9).

A collection writer must not overwrite, move or delete a document it may not read: the answer is
the 404 of an absent id, byte for byte (except the request id), and nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient

from gateway.authz.service import PolicyRule
from gateway.deps import Services
from tests.e2e.conftest import TENANT

Auth = Callable[..., dict[str, str]]
SALARY = "hr-restricted-salary-bands-2025"
SALARY_QUESTION = "What is the salary range for a Senior Software Engineer?"


@pytest.fixture
def writer(services: Services, auth: Auth) -> dict[str, str]:
    """wendy reads and writes engineering (and reads public); nothing else."""
    services.policy.add_rule(
        PolicyRule("p", ("group:eng-writers", TENANT, "collection:engineering", "write", "allow")), actor="test"
    )
    return auth("wendy", ["staff", "engineering", "eng-writers"])


def _shape(response: Any) -> tuple[int, dict[str, Any]]:
    body = dict(response.json())
    body.pop("request_id")
    return response.status_code, body


def test_overwriting_a_hidden_document_is_the_404_of_an_absent_id_and_changes_nothing(
    client: TestClient[Any], services: Services, writer: dict[str, str], auth: Auth
) -> None:
    forged = {"id": SALARY, "collection": "engineering", "title": "Salary Bands 2025", "text": "ENG-3 earns one dollar"}
    overwrite = client.post("/v1/documents", json=forged, headers=writer)
    absent = client.delete("/v1/documents/no-such-document-anywhere", headers=writer)
    assert _shape(overwrite) == _shape(absent) and overwrite.status_code == 404
    assert "version" not in overwrite.text
    row = services.documents.registry.get(TENANT, SALARY)
    assert row is not None and (row.version, row.collection) == (1, "hr-restricted")
    answer = client.post("/v1/ask", json={"question": SALARY_QUESTION}, headers=auth("bob", ["hr", "hr-leads"]))
    assert "one dollar" not in answer.json()["answer"] and answer.json()["citations"][0]["version"] == 1


def test_deleting_a_hidden_document_is_the_404_of_an_absent_id_and_deletes_nothing(
    client: TestClient[Any], services: Services, writer: dict[str, str], auth: Auth
) -> None:
    hidden = client.delete(f"/v1/documents/{SALARY}", headers=writer)
    absent = client.delete("/v1/documents/no-such-document-anywhere", headers=writer)
    assert _shape(hidden) == _shape(absent) and hidden.status_code == 404
    assert client.get(f"/v1/documents/{SALARY}", headers=auth("bob", ["hr", "hr-leads"])).status_code == 200


def test_a_document_deny_list_forbids_writing_as_it_forbids_reading(
    client: TestClient[Any], writer: dict[str, str], auth: Auth
) -> None:
    admin = auth("root", ["gateway-admins", "engineering"])
    doc = {"id": "eng-denied", "collection": "engineering", "text": "the kraken", "acl": {"deny": ["user:wendy"]}}
    assert client.post("/v1/documents", json=doc, headers=admin).status_code == 201
    assert client.post("/v1/documents", json={**doc, "text": "changed"}, headers=writer).status_code == 404
    assert client.delete("/v1/documents/eng-denied", headers=writer).status_code == 404


def test_a_readable_document_without_write_is_403_and_moving_needs_write_on_both_collections(
    client: TestClient[Any], services: Services, writer: dict[str, str]
) -> None:
    public = client.get("/v1/documents/public-expense-policy", headers=writer)
    assert public.status_code == 200
    assert client.delete("/v1/documents/public-expense-policy", headers=writer).status_code == 403
    move_out = {"id": "eng-oncall-rotation", "collection": "public", "text": "moved"}
    assert client.post("/v1/documents", json=move_out, headers=writer).status_code == 403
    services.policy.add_rule(PolicyRule("p", ("user:wendy", TENANT, "collection:public", "write", "allow")), actor="t")
    moved = client.post("/v1/documents", json=move_out, headers=writer)
    assert moved.status_code == 201 and moved.json()["version"] == 2
    rows = services.audit.search(tenant=TENANT, subject="wendy", kind="ingest", limit=5)
    assert rows[0]["details"]["previous_collection"] == "engineering"


def test_every_refused_document_write_leaves_a_row(
    client: TestClient[Any], services: Services, writer: dict[str, str], auth: Auth
) -> None:
    client.post("/v1/documents", json={"id": SALARY, "collection": "engineering", "text": "x"}, headers=writer)
    client.delete(f"/v1/documents/{SALARY}", headers=writer)
    client.post("/v1/documents", json={"id": "x", "collection": "finance", "text": "x"}, headers=writer)
    client.get(f"/v1/documents/{SALARY}", headers=writer)
    rows = services.audit.search(tenant=TENANT, subject="wendy", limit=10)
    refused = [(r["action"], r["details"]["reason"]) for r in rows if r["status"] == "refused"]
    assert sorted(refused) == [
        ("document.delete", "not_readable"),
        ("document.get", "not_readable"),
        ("document.put", "no_write_on_collection"),
        ("document.put", "not_readable"),
    ]


@pytest.mark.parametrize(
    "bad",
    [
        {"labels": ["fine", "bad\x1flabel"]},
        {"labels": ["tab\tbell\x07"]},
        {"id": "eng-oncall-rotation\n"},
        {"collection": "engineering\n"},
        {"acl": {"allow": ["group:engineering\n"]}},
    ],
)
def test_invalid_fields_are_400_before_anything_is_written(
    client: TestClient[Any], services: Services, writer: dict[str, str], bad: dict[str, Any]
) -> None:
    before = services.documents.registry.get(TENANT, "eng-oncall-rotation")
    doc = {"id": "eng-oncall-rotation", "collection": "engineering", "text": "new text", **bad}
    r = client.post("/v1/documents", json=doc, headers=writer)
    assert r.status_code == 400, r.text
    after = services.documents.registry.get(TENANT, "eng-oncall-rotation")
    assert before is not None and after is not None
    assert (after.version, after.assigned_version, after.acl) == (before.version, before.assigned_version, before.acl)
