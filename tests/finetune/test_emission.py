"""The emission gate's check for original values (``scrub.emitted_originals``), table-driven."""

from __future__ import annotations

import pytest

from gateway.finetune.scrub import digest, emitted_originals, spans

KEY = b"k" * 32


@pytest.mark.parametrize(
    ("replaced", "known", "output", "expected"),
    [
        # replaced everywhere: the adapter can only have it from the raw data
        (["Jane Roe"], "Ask Patricia Lee about leave.", "Ask Jane Roe about leave.", ["jane roe"]),
        (["Jane Roe"], "Ask Patricia Lee.", "JANE ROE, obviously.", ["jane roe"]),  # case and punctuation
        (["555-0142"], "Call <PHONE>.", "Call 555-0142 now.", ["555-0142"]),
        # replaced in one place (spaCy tagged the heading "Winter" a PERSON) but kept in the scrubbed
        # text elsewhere: the adapter saw it in approved data (the real SmolLM2 adapter's case)
        (["Winter"], "## Daniel shutdown\nThe company is closed for a winter shutdown.", "A winter shutdown.", []),
        # a part of a replaced value being known does not excuse the whole value
        (["Jane Roe"], "Jane is a common first name.", "Jane Roe signed it.", ["jane roe"]),
        # nothing replaced, or nothing emitted
        ([], "anything", "Jane Roe", []),
        (["Jane Roe"], "", "", []),
    ],
)
def test_emitted_originals(replaced: list[str], known: str, output: str, expected: list[str]) -> None:
    originals = {digest(KEY, v) for v in replaced}
    assert emitted_originals(KEY, [output], originals, known) == [expected]


def test_without_the_known_text_it_agrees_with_the_span_digests() -> None:
    """With nothing approved, the check is the plain digest match it replaced."""
    originals = {digest(KEY, v) for v in ("Jane Roe", "Winter", "555-0142")}
    outputs = ["A winter shutdown.", "Jane Roe, 555-0142", "nothing here"]
    plain = [bool({digest(KEY, s) for s in spans(o)} & originals) for o in outputs]
    assert [bool(found) for found in emitted_originals(KEY, outputs, originals, "")] == plain
