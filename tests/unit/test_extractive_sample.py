"""ExtractiveGenerator on the sample corpus: each persona's questions, over what that persona reads.

Whole documents stand in for retrieved passages, so this checks the generator and the corpus
together without a retriever: sample questions are answered from their expected document first,
and denied questions (whose document is not among the passages) get the no-answer reply.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.generation.base import NO_ANSWER
from gateway.generation.extractive import ExtractiveGenerator
from gateway.ingest.parsers import parse_document
from gateway.retrieval.base import Hit

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def _load() -> dict[str, Hit]:
    hits: dict[str, Hit] = {}
    rows = [json.loads(line) for line in (SAMPLE / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    files = [json.loads(line) for line in (SAMPLE / "files.jsonl").read_text(encoding="utf-8").splitlines()]
    for row in rows + files:
        text = row.get("text") or parse_document((SAMPLE / row["path"]).read_bytes(), row["mime_type"]).text
        hits[row["id"]] = Hit(
            chunk_id=f"{row['id']}:0",
            document_id=row["id"],
            tenant="northwind",
            collection=row["collection"],
            version=1,
            title=row["title"],
            text=text,
            score=1.0,
        )
    return hits


HITS = _load()
PERSONAS: list[dict[str, Any]] = json.loads((SAMPLE / "personas.json").read_text(encoding="utf-8"))["personas"]
ASKED = [(p, q["question"], q["expected_document_id"]) for p in PERSONAS for q in p["sample_questions"]]
DENIED = [(p, q["question"], q["forbidden_document_id"]) for p in PERSONAS for q in p["denied_questions"]]


@pytest.mark.parametrize(("persona", "question", "expected"), ASKED, ids=lambda v: v if isinstance(v, str) else "")
def test_sample_questions_are_answered_from_the_expected_document(
    persona: dict[str, Any], question: str, expected: str
) -> None:
    passages = [HITS[doc_id] for doc_id in persona["can_read"]]
    completion = ExtractiveGenerator().generate(question, passages)
    assert completion.answered
    assert completion.citations[0].document_id == expected


@pytest.mark.parametrize(("persona", "question", "forbidden"), DENIED, ids=lambda v: v if isinstance(v, str) else "")
def test_denied_questions_get_no_answer_from_what_the_persona_reads(
    persona: dict[str, Any], question: str, forbidden: str
) -> None:
    passages = [HITS[doc_id] for doc_id in persona["can_read"]]
    assert forbidden not in {p.document_id for p in passages}
    assert ExtractiveGenerator().generate(question, passages).text == NO_ANSWER
