"""Every document of the sample corpus (data/sample) passes poisoning screening with the defaults.

``make run`` ingests this corpus; a clean company handbook that the default screen quarantines
(as the learned head once did to the Code of Conduct) is a false positive a first user meets.
Documents are screened as the ingest flow builds them: parsed text plus the bytes as submitted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.ingest.parsers import parse_document
from guards.poisoning.base import ScreenDocument
from guards.poisoning.screen import default_screen

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "sample"


def _documents() -> list[tuple[str, ScreenDocument]]:
    out = []
    for line in (SAMPLE / "documents.jsonl").read_text(encoding="utf-8").splitlines():
        doc: dict[str, Any] = json.loads(line)
        out.append(
            (doc["id"], ScreenDocument(text=doc["text"], raw=doc["text"].encode(), collection=doc["collection"]))
        )
    for line in (SAMPLE / "files.jsonl").read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        raw = (SAMPLE / doc["path"]).read_bytes()
        text = parse_document(raw, doc["mime_type"]).text
        out.append(
            (doc["id"], ScreenDocument(text=text, raw=raw, mime_type=doc["mime_type"], collection=doc["collection"]))
        )
    return out


DOCUMENTS = _documents()


def test_the_sample_corpus_is_all_there() -> None:
    assert len(DOCUMENTS) >= 20


@pytest.mark.parametrize(("doc_id", "doc"), DOCUMENTS, ids=[d for d, _ in DOCUMENTS])
@pytest.mark.parametrize("trust", ["standard", "operator"])
def test_every_sample_document_is_indexed_by_the_default_screen(doc_id: str, doc: ScreenDocument, trust: str) -> None:
    decision = default_screen().screen(doc, trust=trust)
    assert not decision.quarantined, (doc_id, [r.as_dict() for r in decision.reasons])
