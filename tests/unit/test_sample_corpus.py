"""The sample corpus (data/sample): schema, and personas' access lists recomputed from policy.csv.

The access rule is re-implemented here in plain Python, independently of the gateway's policy
code: a principal reads a document iff it is in the document's tenant, and the document's
collection is granted to one of its principals or the document's ``allow`` list names one, and
the ``deny`` list names none. Principals are ``user:<subject>``, ``group:<g>`` for each token
group, plus whatever the policy's ``g`` lines assign to those.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from gateway.ingest.parsers import mime_from_filename, parse_document

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
TENANT = "northwind"
COLLECTIONS = {"public", "hr", "hr-restricted", "finance", "board", "engineering", "security", "legal"}
COLLECTIONS |= {"legal-privileged"}
PRINCIPAL = re.compile(r"^(user|group|role):[a-z0-9][a-z0-9._-]*$")


def _jsonl(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (SAMPLE / name).read_text(encoding="utf-8").splitlines() if line]


DOCUMENTS = _jsonl("documents.jsonl")
FILES = _jsonl("files.jsonl")
ALL_DOCS = DOCUMENTS + FILES
PERSONAS: list[dict[str, Any]] = json.loads((SAMPLE / "personas.json").read_text(encoding="utf-8"))["personas"]


def _policy() -> tuple[list[tuple[str, str, str, str, str]], list[tuple[str, str, str]]]:
    grants: list[tuple[str, str, str, str, str]] = []
    roles: list[tuple[str, str, str]] = []
    for line in (SAMPLE / "policy.csv").read_text(encoding="utf-8").splitlines():
        kind, *fields = (f.strip() for f in line.split(","))
        if kind == "p":
            subject, tenant, obj, action, effect = fields
            grants.append((subject, tenant, obj, action, effect))
        else:
            assert kind == "g", line
            member, role, tenant = fields
            roles.append((member, role, tenant))
    return grants, roles


GRANTS, ROLES = _policy()


def _principals(persona: dict[str, Any]) -> set[str]:
    base = {f"user:{persona['subject']}", *(f"group:{g}" for g in persona["groups"])}
    expanded = set(base)
    changed = True
    while changed:  # g lines may chain; follow them to a fixed point
        added = {role for member, role, tenant in ROLES if member in expanded and tenant == persona["tenant"]}
        changed = not added <= expanded
        expanded |= added
    return expanded


def _reads(persona: dict[str, Any], doc: dict[str, Any]) -> bool:
    if persona["tenant"] != TENANT:
        return False
    principals = _principals(persona)
    granted = {
        obj.removeprefix("collection:")
        for subject, tenant, obj, action, effect in GRANTS
        if subject in principals and tenant == persona["tenant"] and action == "read" and effect == "allow"
    }
    if principals & set(doc["acl"]["deny"]):
        return False
    return doc["collection"] in granted or bool(principals & set(doc["acl"]["allow"]))


def test_document_ids_are_unique_across_jsonl_and_files() -> None:
    ids = [d["id"] for d in ALL_DOCS]
    assert len(ids) == len(set(ids))
    assert 32 <= len(ids) <= 40


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda d: d["id"])
def test_document_schema(doc: dict[str, Any]) -> None:
    assert set(doc) == {"id", "title", "text", "collection", "acl", "labels", "source_uri"}
    assert doc["collection"] in COLLECTIONS
    assert set(doc["acl"]) == {"allow", "deny"}
    assert all(PRINCIPAL.match(p) for p in doc["acl"]["allow"] + doc["acl"]["deny"])
    assert doc["labels"] and all(isinstance(label, str) for label in doc["labels"])
    assert doc["source_uri"].startswith("https://")
    assert doc["text"].startswith(f"# {doc['title']}\n")
    assert 150 <= len(doc["text"].split()) <= 600


@pytest.mark.parametrize("entry", FILES, ids=lambda d: d["id"])
def test_file_documents_parse_to_real_text(entry: dict[str, Any]) -> None:
    assert set(entry) == {"id", "title", "path", "mime_type", "collection", "acl", "labels", "source_uri"}
    assert entry["collection"] in COLLECTIONS
    path = SAMPLE / entry["path"]
    assert mime_from_filename(path) == entry["mime_type"]
    parsed = parse_document(path.read_bytes(), entry["mime_type"])
    assert parsed.title == entry["title"]
    assert 150 <= len(parsed.text.split()) <= 600


def test_file_kinds_cover_html_and_pdf() -> None:
    assert {f["mime_type"] for f in FILES} == {"text/html", "application/pdf"}


def test_policy_names_only_collections_the_corpus_uses() -> None:
    used = {d["collection"] for d in ALL_DOCS}
    granted = {obj.removeprefix("collection:") for _, _, obj, _, _ in GRANTS}
    assert granted <= used
    assert all(tenant == TENANT for _, tenant, _, _, _ in GRANTS)
    assert all(PRINCIPAL.match(s) for s, *_ in GRANTS)


def test_acl_design_exercises_every_rule() -> None:
    by_id = {d["id"]: d for d in ALL_DOCS}
    assert by_id["hr-restricted-salary-bands-2025"]["acl"]["allow"] == ["group:hr-leads"]
    assert "user:dana" in by_id["finance-contractor-invoicing"]["acl"]["allow"]
    assert "group:contractors" in by_id["eng-production-db-access"]["acl"]["deny"]
    assert by_id["legal-litigation-hold-brightline"]["collection"] == "legal-privileged"
    ungranted = {d["collection"] for d in ALL_DOCS} - {o.removeprefix("collection:") for _, _, o, _, _ in GRANTS}
    assert ungranted == {"hr-restricted", "board", "security"}


@pytest.mark.parametrize("persona", PERSONAS, ids=lambda p: p["subject"])
def test_persona_access_lists_follow_the_policy(persona: dict[str, Any]) -> None:
    expected_can = [d["id"] for d in ALL_DOCS if _reads(persona, d)]
    expected_cannot = [d["id"] for d in ALL_DOCS if not _reads(persona, d)]
    assert persona["can_read"] == expected_can
    assert persona["cannot_read"] == expected_cannot


@pytest.mark.parametrize("persona", PERSONAS, ids=lambda p: p["subject"])
def test_persona_questions_target_the_right_side_of_the_wall(persona: dict[str, Any]) -> None:
    assert {q["expected_document_id"] for q in persona["sample_questions"]} <= set(persona["can_read"])
    assert {q["forbidden_document_id"] for q in persona["denied_questions"]} <= set(persona["cannot_read"])


def test_personas_cover_the_interesting_cases() -> None:
    by_subject = {p["subject"]: p for p in PERSONAS}
    assert {"alice", "bob", "carol", "dana", "erin", "root"} <= set(by_subject)
    assert "hr-restricted-salary-bands-2025" in by_subject["bob"]["can_read"]
    assert "finance-contractor-invoicing" in by_subject["dana"]["can_read"]
    assert "eng-production-db-access" in by_subject["dana"]["cannot_read"]
    assert "eng-production-db-access" in by_subject["alice"]["can_read"]
    assert "legal-litigation-hold-brightline" in by_subject["erin"]["can_read"]
    assert not any(p["subject"] != "erin" and "legal-litigation-hold-brightline" in p["can_read"] for p in PERSONAS)
    assert all("board-minutes-2025-06" in p["cannot_read"] for p in PERSONAS)
    assert by_subject["root"]["can_read"] == [d["id"] for d in ALL_DOCS if d["collection"] == "public"]
