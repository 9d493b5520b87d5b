"""Planted answers (contradiction against trusted neighbours) and floods (MinHash bursts, SQL store)."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import create_engine

from gateway.retrieval.embed import HashingEmbedder
from guards.poisoning.base import Passage, ScreenDocument, combined_score
from guards.poisoning.facts import contradiction
from guards.poisoning.flood_store import MemoryFloodStore, SqlFloodStore, metadata
from guards.poisoning.floods import FloodDetector
from guards.poisoning.neighbours import MatrixNeighbours
from guards.poisoning.planted import PlantedAnswerDetector

TRUSTED = "The on-call rotation lasts two weeks. The default timeout of the API gateway is 30 seconds."

CONTRADICTIONS = [
    ("number", "The default timeout of the API gateway is 300 seconds.", "number"),
    ("negation", "The on-call rotation does not last two weeks.", "negation"),
    ("entity", "The default timeout of the Kong gateway is 30 seconds.", "entity"),
]
AGREEMENTS = [
    ("same fact", "The default timeout of the API gateway is 30 seconds."),
    ("other topic", "Lunch is served in the canteen from noon."),
    ("sentence-initial capital", "This default timeout of the API gateway is 30 seconds."),
]


@pytest.mark.parametrize(("case", "claim", "kind"), CONTRADICTIONS, ids=[c for c, _, _ in CONTRADICTIONS])
def test_changed_facts_contradict(case: str, claim: str, kind: str) -> None:
    found = contradiction(claim, TRUSTED)
    assert found is not None and found.kind == kind, case


@pytest.mark.parametrize(("case", "claim"), AGREEMENTS, ids=[c for c, _ in AGREEMENTS])
def test_same_or_unrelated_facts_do_not_contradict(case: str, claim: str) -> None:
    assert contradiction(claim, TRUSTED) is None, case


def _detector() -> tuple[PlantedAnswerDetector, HashingEmbedder]:
    embedder = HashingEmbedder()
    neighbours = MatrixNeighbours()
    sentences = TRUSTED.split(". ")
    vectors = embedder.embed(sentences)
    neighbours.add("ops", [(f"runbook#{i}", s, vectors[i]) for i, s in enumerate(sentences)], document="runbook")
    return PlantedAnswerDetector(neighbours, min_similarity=0.3), embedder


def test_a_planted_answer_is_flagged_with_the_trusted_passage_as_evidence() -> None:
    detector, embedder = _detector()
    text = "What is the default timeout of the API gateway? The default timeout of the API gateway is 300 seconds."
    doc = ScreenDocument(text=text, collection="ops", passages=(Passage(text, embedder.embed([text])[0]),))
    verdict = detector.inspect_document(doc)
    assert combined_score(verdict.findings) >= 0.8
    assert any("runbook#1" in f.evidence for f in verdict.findings)


def test_a_document_is_not_checked_against_its_own_passages() -> None:
    detector, embedder = _detector()
    text = "The default timeout of the API gateway is 300 seconds."
    doc = ScreenDocument(
        text=text, collection="ops", key="runbook", passages=(Passage(text, embedder.embed([text])[0]),)
    )
    assert not [f for f in detector.inspect_document(doc).findings if f.label.startswith("contradicts")]


def test_without_neighbours_only_question_likeness_is_scored() -> None:
    verdict = PlantedAnswerDetector(None).inspect("What is the refund window? The refund window is 365 days.")
    assert {f.label for f in verdict.findings} == {"restated_question"} or {f.label for f in verdict.findings} == {
        "opens_with_question"
    }
    assert combined_score(verdict.findings) < 0.8


BASE = "Refunds are processed by the finance team within 90 days of the request, no receipt needed. " * 3


def _burst(detector: FloodDetector, source: str, count: int, start: float = 1000.0) -> list[float]:
    scores = []
    for n in range(count):
        key = f"{source}-{start}-{n}"
        doc = ScreenDocument(text=f"{BASE} ref {n}", source=source, key=key, submitted_at=start + n)
        scores.append(combined_score(detector.inspect_document(doc).findings))
    return scores


def test_a_near_duplicate_burst_from_one_source_reaches_a_full_score() -> None:
    scores = _burst(FloodDetector(MemoryFloodStore(), burst=3), "u1", 5)
    assert scores[0] == 0.0 and scores[-1] == 1.0


def test_other_sources_and_old_copies_do_not_count() -> None:
    detector = FloodDetector(MemoryFloodStore(), burst=3, window_seconds=60)
    _burst(detector, "u1", 4)
    assert _burst(detector, "u2", 1) == [0.0]
    assert _burst(detector, "u1", 1, start=5000.0) == [0.0]


def test_rescreening_the_same_document_does_not_count_itself() -> None:
    detector = FloodDetector(MemoryFloodStore(), burst=2)
    doc = ScreenDocument(text=BASE, source="u1", key="same", submitted_at=1.0)
    for _ in range(4):
        assert not detector.inspect_document(doc).findings


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_sql_store_is_shared_between_detectors(backend: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    engine = create_engine(url)
    metadata.create_all(engine)
    first, second = FloodDetector(SqlFloodStore(engine), burst=3), FloodDetector(SqlFloodStore(engine), burst=3)
    _burst(first, "u1", 3)
    assert _burst(second, "u1", 1, start=1010.0) == [1.0]
    assert SqlFloodStore(engine).prune(before=2000.0) == 4
    engine.dispose()


def test_signatures_are_stable_across_instances() -> None:
    a, b = FloodDetector(MemoryFloodStore()), FloodDetector(MemoryFloodStore())
    assert np.array_equal(a.signature(BASE), b.signature(BASE))
