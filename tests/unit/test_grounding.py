"""The grounding gate (``gateway.generation.grounding``): table-driven, streamed in any cut, and in the generator."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.generation.base import NO_ANSWER, AskContext
from gateway.generation.grounding import GroundingGate, grounded
from gateway.generation.model import AdapterInfo, ModelGenerator
from gateway.retrieval.base import Hit


def _hit(n: int, text: str, title: str = "") -> Hit:
    return Hit(chunk_id=f"c{n}", document_id=f"d{n}", tenant="t", collection="wiki", version=1,
               title=title or f"Doc {n}", text=text, score=1.0 / n)  # fmt: skip


SOURCES = {
    "S1": _hit(1, "Primary caregivers receive 16 weeks of fully paid parental leave.", "Parental leave"),
    "S2": _hit(2, "The contingency reserve of $1.5 million is held centrally by the CFO.", "Budget"),
}


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("Primary caregivers receive 16 weeks of fully paid parental leave. [1]", True),  # copied and cited
        ("Caregivers get 16 weeks of paid leave [1].", True),  # paraphrase, marker before the stop
        ("The reserve is $1.5 million. [2]", True),
        ("Primary caregivers receive 16 weeks of fully paid parental leave.", False),  # no citation
        ("Primary caregivers receive 16 weeks of fully paid parental leave. [3]", False),  # not retrieved
        ("The board decided to acquire Tidewater Labs. [2]", False),  # cites a passage it is not from
        ("Carshal LLP represents Northwind in the acquisition. [1]", False),  # an invention, cited anyway
        ("[1]", False),  # markers only
        (NO_ANSWER, False),  # the refusal cites nothing: dropped, and the answer becomes the refusal
    ],
)
def test_a_unit_passes_only_when_its_citations_support_it(unit: str, expected: bool) -> None:
    assert grounded(unit, SOURCES) is expected


ANSWER = (
    "Primary caregivers receive 16 weeks of fully paid parental leave. [1] The board decided to acquire "
    "Tidewater Labs. [2] The reserve of $1.5 million is held by the CFO. [2]"
)
SHOWN = (
    "Primary caregivers receive 16 weeks of fully paid parental leave. [1] The reserve of $1.5 million is "
    "held by the CFO. [2]"
)


def _gate(pieces: Sequence[str]) -> tuple[str, int]:
    gate = GroundingGate(SOURCES)
    out = "".join(gate.feed(p) for p in pieces) + gate.flush()
    return out, gate.dropped


def test_the_unsupported_sentence_is_withheld_and_counted() -> None:
    assert _gate([ANSWER]) == (SHOWN, 1)


@given(st.lists(st.integers(min_value=0, max_value=len(ANSWER)), max_size=12))
def test_any_cut_of_the_stream_gives_the_same_answer(cuts: list[int]) -> None:
    bounds = [0, *sorted(set(cuts)), len(ANSWER)]
    assert _gate([ANSWER[a:b] for a, b in itertools.pairwise(bounds)]) == (SHOWN, 1)


def test_numbers_and_abbreviations_do_not_end_a_sentence() -> None:
    text = "The reserve of $1.5 million is held by the CFO, e.g. for emergencies. [2]"
    assert _gate([text]) == (text, 0)


class _Scripted:
    """A ``TextModel`` that streams a fixed reply in small pieces."""

    kind, base_model = "scripted", "scripted-base"

    def __init__(self, reply: str) -> None:
        self.reply = reply

    def stream(
        self, messages: Sequence[dict[str, str]], adapter: AdapterInfo | None, max_new_tokens: int
    ) -> Iterator[str]:
        del messages, adapter, max_new_tokens
        for i in range(0, len(self.reply), 7):
            yield self.reply[i : i + 7]


PASSAGES = [SOURCES["S1"], SOURCES["S2"]]


@pytest.mark.parametrize(
    ("reply", "grounded_on", "text", "answered", "dropped"),
    [
        # the model cites with [S<n>]; the filter turns them into [n] before the gate sees them
        (ANSWER.replace("[1]", "[S1]").replace("[2]", "[S2]"), True, SHOWN, True, 1),
        ("Carshal LLP represents Northwind.", True, NO_ANSWER, False, 1),  # nothing grounded: the refusal
        ("Carshal LLP represents Northwind.", False, "Carshal LLP represents Northwind.", True, 0),  # gate off
    ],
)
def test_the_generator_serves_only_grounded_sentences_and_counts_the_rest(
    reply: str, grounded_on: bool, text: str, answered: bool, dropped: int
) -> None:
    gen = ModelGenerator(_Scripted(reply), grounded=grounded_on)
    done = gen.generate("What leave do primary caregivers get?", PASSAGES, AskContext("t"))
    assert (done.text, done.answered, done.ungrounded_sentences) == (text, answered, dropped)
    assert done.audit_details()["ungrounded_sentences"] == dropped
    streamed = [d for d in gen.stream("What leave do primary caregivers get?", PASSAGES, AskContext("t"))]
    assert "".join(getattr(d, "text", "") for d in streamed[:-1]) == text
