"""Chunking rules: size limit, nothing lost, order kept, structure respected, stable ids."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.retrieval.chunking import (
    ChunkSpan,
    chunk_text,
    chunk_title,
    estimate_tokens,
    make_chunk_id,
    word_tokens,
)

words = st.text(alphabet=st.characters(blacklist_categories=["Cs", "Z", "Cc"]), min_size=1, max_size=30)
lines = st.lists(words, max_size=20).map(" ".join)
headings = st.tuples(st.integers(1, 4), lines).map(lambda t: "#" * t[0] + " " + t[1])
documents = st.lists(st.one_of(lines, headings, st.just(""), lines.map(lambda s: s + ".")), max_size=30).map("\n".join)
limits = st.tuples(st.integers(1, 60), st.integers(0, 30))


def covers_in_order(text: str, spans: list[ChunkSpan]) -> bool:
    """Each chunk is a contiguous run of input words starting at or before the covered prefix."""
    source = text.split()
    covered = 0
    for span in spans:
        run = span.text.split()
        starts = [i for i in range(covered + 1) if source[i : i + len(run)] == run]
        if not starts:
            return False
        covered = max(covered, starts[-1] + len(run))
    return covered == len(source)


@settings(max_examples=300, deadline=None)
@given(text=documents, limit=limits)
def test_no_chunk_exceeds_the_limit_unless_one_long_word(text: str, limit: tuple[int, int]) -> None:
    max_tokens, overlap = limit
    for span in chunk_text(text, max_tokens=max_tokens, overlap_tokens=overlap):
        fits = estimate_tokens(span.text) <= max_tokens
        assert fits or (len(span.text.split()) == 1 and word_tokens(span.text) > max_tokens)


@settings(max_examples=300, deadline=None)
@given(text=documents, limit=limits)
def test_every_word_appears_in_order(text: str, limit: tuple[int, int]) -> None:
    spans = chunk_text(text, max_tokens=limit[0], overlap_tokens=limit[1])
    assert covers_in_order(text, spans)
    assert [s.ordinal for s in spans] == list(range(len(spans)))


@given(text=documents, limit=limits)
def test_chunking_is_deterministic(text: str, limit: tuple[int, int]) -> None:
    first = chunk_text(text, max_tokens=limit[0], overlap_tokens=limit[1])
    assert chunk_text(text, max_tokens=limit[0], overlap_tokens=limit[1]) == first


@given(text=st.text(alphabet=" \t\n\r\f\v", max_size=50))
def test_whitespace_gives_no_chunks(text: str) -> None:
    assert chunk_text(text, max_tokens=10, overlap_tokens=2) == []


def test_lines_and_paragraphs_survive_chunking() -> None:
    text = "# Limits\n\n| tier | rps |\n| gold | 100 |\n\n- first item\n- second item"
    [span] = chunk_text(text, max_tokens=100, overlap_tokens=10)
    assert span.text == "# Limits\n\n| tier | rps |\n| gold | 100 |\n\n- first item\n- second item"


def test_chunk_title_does_not_repeat_the_document_title() -> None:
    assert chunk_title("Guide", "Guide > Install") == "Guide > Install"
    assert chunk_title("Handbook", "Install") == "Handbook > Install"
    assert chunk_title("Handbook", "") == "Handbook"


def test_headings_start_chunks_and_give_their_path() -> None:
    text = "Intro line.\n\n# Guide\nWelcome.\n\n## Install\nRun it.\n\n# FAQ\nAsk."
    spans = chunk_text(text, max_tokens=100, overlap_tokens=10)
    assert [(s.heading, s.text) for s in spans] == [
        ("", "Intro line."),
        ("Guide", "# Guide\nWelcome."),
        ("Guide > Install", "## Install\nRun it."),
        ("FAQ", "# FAQ\nAsk."),
    ]


def test_consecutive_chunks_of_a_section_overlap() -> None:
    text = " ".join(f"w{i}." for i in range(40))
    spans = chunk_text(text, max_tokens=10, overlap_tokens=3)
    assert len(spans) > 1
    for before, after in itertools.pairwise(spans):
        assert before.text.split()[-3:] == after.text.split()[:3]


def test_chunk_id_is_stable_and_sensitive_to_every_part() -> None:
    base = make_chunk_id("t1", "doc", 0, "text")
    assert base == make_chunk_id("t1", "doc", 0, "text")
    assert len(base) == 32
    others = [
        ("t2", "doc", 0, "text"),
        ("t1", "doc2", 0, "text"),
        ("t1", "doc", 1, "text"),
        ("t1", "doc", 0, "txt"),
    ]
    assert all(make_chunk_id(*o) != base for o in others)


def test_chunk_title_prefixes_the_heading_path() -> None:
    assert chunk_title("Handbook", "Guide > Install") == "Handbook > Guide > Install"
    assert chunk_title("Handbook", "") == "Handbook"


@pytest.mark.parametrize(
    "text",
    [
        ".) 0",  # found by hypothesis: the splitter used to consume the ")" after a sentence end
        "He said (see above.) Next one.",
        'She wrote "done." Then left.',
        'A quote.") Then more.',
        "Three closers.))) Still kept.",
    ],
)
def test_sentence_splitting_keeps_closing_brackets_and_quotes(text: str) -> None:
    spans = chunk_text(text, max_tokens=1, overlap_tokens=0)
    assert covers_in_order(text, spans)
    assert " ".join(s.text for s in spans).split() == text.split()
