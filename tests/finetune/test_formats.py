"""Example formats, the split, replaced spans and the exposure arithmetic (no model needed)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import InvalidRequest
from gateway.finetune.dataset import split
from gateway.finetune.examples import Example, parse_example
from gateway.finetune.gates import exposure
from gateway.finetune.scrub import replaced_spans


@pytest.mark.parametrize(
    ("line", "prompt", "completion", "docs", "context"),
    [
        ({"question": "Q?", "answer": "A."}, "Q?", "A.", (), ()),
        ({"prompt": "P", "completion": "C", "source": "doc-1"}, "P", "C", ("doc-1",), ()),
        ({"instruction": "Do", "input": "this", "output": "Done"}, "Do\nthis", "Done", (), ()),
        (
            {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"},
                          {"role": "assistant", "content": "Hello."}], "document_ids": ["a", "b"]},
            "Hi?", "Hello.", ("a", "b"), (("system", "Be brief."),),
        ),
    ],
)  # fmt: skip
def test_each_format_gives_a_prompt_and_a_completion(
    line: dict[str, Any], prompt: str, completion: str, docs: tuple[str, ...], context: tuple[tuple[str, str], ...]
) -> None:
    assert parse_example(line) == Example(prompt, completion, docs, context)


@pytest.mark.parametrize(
    "line",
    [
        {"text": "no known keys"},
        {"question": "Q?", "answer": "  "},
        {"messages": [{"role": "user", "content": "only a question"}]},
        {
            "messages": [
                {"role": "user", "content": "Q?"},
                {"role": "system", "content": "S"},
                {"role": "assistant", "content": "A."},
            ]
        },
        {"prompt": "P", "completion": "C", "document_ids": "not-a-list"},
    ],
)
def test_malformed_examples_are_refused(line: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        parse_example(line)


@given(st.lists(st.tuples(st.text(min_size=1), st.text(min_size=1)), min_size=2, max_size=30, unique=True))
def test_the_split_does_not_depend_on_input_order(pairs: list[tuple[str, str]]) -> None:
    examples = [Example(p, c) for p, c in pairs]
    train, evaluation = split(examples, 5, 0.2)
    again = split(list(reversed(examples)), 5, 0.2)
    assert (train, evaluation) == again
    assert len(evaluation) >= 1 and sorted(map(repr, train + evaluation)) == sorted(map(repr, examples))


def test_replaced_spans_are_the_originals_and_the_pseudonyms() -> None:
    originals, pseudonyms = replaced_spans("Mail jane@x.org or call 555-123-4567 now", "Mail <E1> or call <P1> now")
    assert originals == ["jane@x.org", "555-123-4567"] and pseudonyms == ["<E1>", "<P1>"]


def test_exposure_is_maximal_for_the_most_likely_canary_and_small_at_random() -> None:
    refs = [float(-i) for i in range(1, 1001)]
    top, rank = exposure(0.0, refs)
    assert rank == 1 and top == pytest.approx(math.log2(1001))
    middle, rank = exposure(-500.5, refs)
    assert rank == 501 and middle == pytest.approx(math.log2(1001 / 501))
