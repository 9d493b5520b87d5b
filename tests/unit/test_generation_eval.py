"""The evaluation metrics of gateway/generation/eval.py (all local, no judge)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.generation.base import NO_ANSWER, Citation, Completion
from gateway.generation.eval import QAItem, Scores, faithfulness, load_qa, normalise, score, token_f1
from gateway.retrieval.base import Hit

HIT = Hit(chunk_id="c1", document_id="d1", tenant="t", collection="x", version=1, title="Stipend",
          text="On-call engineers receive a stipend of $400 per week.", score=1.0)  # fmt: skip
CITE = Citation(1, "d1", "c1", "Stipend", 1, 1.0)


@pytest.mark.parametrize(
    ("answer", "reference", "f1"),
    [
        ("$400 per week [1].", "$400 per week", 1.0),
        ("The stipend is $400 per week.", "$400 per week", 0.75),
        ("Nothing relevant.", "$400 per week", 0.0),
    ],
)
def test_token_f1_ignores_citations_case_and_articles(answer: str, reference: str, f1: float) -> None:
    assert token_f1(answer, reference) == pytest.approx(f1)


def test_an_answer_is_faithful_when_its_sentences_are_in_the_chunks_it_cites() -> None:
    supported = Completion("Engineers receive a stipend of $400 per week [1].", (CITE,), True, "x")
    invented = Completion("The stipend doubles on public holidays and weekends [1].", (CITE,), True, "x")
    assert (faithfulness(supported, [HIT]), faithfulness(invented, [HIT])) == (1.0, 0.0)


@pytest.mark.parametrize(
    ("kind", "text", "answered", "refusal"),
    [
        ("answerable", "$400 per week [1].", True, 1.0),
        ("answerable", NO_ANSWER, False, 0.0),
        ("forbidden", NO_ANSWER, False, 1.0),
        ("unanswerable", "It is 42.", True, 0.0),
    ],
)
def test_refusal_is_correct_only_when_it_matches_the_kind_of_question(
    kind: str, text: str, answered: bool, refusal: float
) -> None:
    scores = Scores()
    item = QAItem(kind, "alice", ("staff",), "q", "$400 per week", "d1")
    score(scores, item, Completion(text, (CITE,) if answered else (), answered, "x"), [HIT], 1.0)
    assert scores.refusal == [refusal]


def test_the_sample_qa_set_has_every_kind_and_references_for_the_answerable() -> None:
    items = load_qa(Path(__file__).resolve().parents[2] / "data" / "sample" / "qa.json")
    assert {x.kind for x in items} == {"answerable", "unanswerable", "forbidden"}
    assert all(x.reference and x.document_id for x in items if x.kind == "answerable")
    assert normalise("The  Answer [2].") == "answer"
