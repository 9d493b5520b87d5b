"""An offline, deterministic generator that answers by quoting the best sentences it was given.

It reads passages strictly as data: nothing in a passage can change what it does. It picks the
sentences that share the most (IDF-weighted) terms with the question and cites where each came
from; when nothing overlaps enough it says ``NO_ANSWER`` rather than guess.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.generation.base import NO_ANSWER, NO_CONTEXT, AskContext, Citation, Completion
from gateway.retrieval.base import Hit

_STOPWORD_TEXT = """a about above after again all also am an and any are as at be been before being below
    between both but by can could did do does doing down during each few for from further get
    gets got had has have having he her here hers him his how i if in into is it its itself just
    me more most my no nor not now of off on once only or other our ours out over own same she
    should so some such than that the their theirs them then there these they this those through
    to too under until up very was we were what when where which while who whom why will with
    would you your yours tell please know need us many much long often"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
# Numbers keep their separators ("3,000", "0.70"); otherwise letters and digits stay together ("q3").
_TOKEN = re.compile(r"\d+(?:[.,:/]\d+)+|[^\W_]+")
# Sentence ends: ., ! or ? followed by space and an upper-case letter, digit, quote or bracket.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[*]?[A-Z0-9])")
_ABBREVIATION = re.compile(r"\b(?:e\.g|i\.e|etc|approx|incl|dr|mr|mrs|ms|vs|inc|ltd|co|st)\.$", re.IGNORECASE)
_LIST_MARKER = re.compile(r"^(?:[-*+•]\s+|\d{1,3}[.)]\s+|>\s*)+")
_INJECTED_MARKER = re.compile(r"\[\d{1,3}\]")  # a passage must not forge our citation markers
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_QUANTITY_QUESTION = re.compile(
    r"\b(?:how (?:many|much|long|often|old|far|soon|large|big)|when|what (?:date|day|time|year|"
    r"percentage|amount|limit|rate|deadline|number)|which (?:date|day|year)|deadline|limit)\b",
    re.IGNORECASE,
)
_QUANTITY = re.compile(
    r"\d|\b(?:january|february|march|april|may|june|july|august|september|october|november|"
    r"december|monday|tuesday|wednesday|thursday|friday|saturday|sunday|daily|weekly|monthly|"
    r"annually|quarterly)\b",
    re.IGNORECASE,
)
_SUFFIXES = (("ies", "y"), ("sses", "ss"), ("ments", ""), ("ment", ""), ("ing", ""), ("ed", ""), ("ly", ""))
_MAX_SENTENCE_CHARS = 400
_CONTEXT_WEIGHT = 0.5
"""A question term found only in the sentence's headings or the passage title counts half."""
_RUNNER_UP = 0.6
"""Further sentences must score at least this share of the best one."""
# Blocks: paragraphs, and each list item, heading or table row on its own line.
_BLOCK_BREAK = re.compile(r"\n\s*\n|\n(?=\s*(?:[-*+•]\s|\d{1,3}[.)]\s|#|\|))")


def _stem(word: str) -> str:
    """A light stemmer: enough to match ``limits``/``limit``, ``capped``/``cap``, ``payment``/``pay``."""
    if any(ch.isdigit() for ch in word) or len(word) < 4:
        return word
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + replacement
            if suffix in ("ing", "ed") and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]  # capped -> capp -> cap
            break
    else:
        if word.endswith("s") and not word.endswith(("ss", "us", "is")):
            word = word[:-1]
    # A final "e" is dropped so that acknowledge/acknowledged/acknowledges meet.
    return word[:-1] if word.endswith("e") and len(word) > 4 else word


def terms(text: str) -> list[str]:
    """Normalised, stemmed content terms of ``text`` (stop words dropped)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return [_stem(t) for t in _TOKEN.findall(folded) if t not in _STOPWORDS and (len(t) > 1 or t.isdigit())]


def clean(text: str) -> str:
    """Passage text as we are willing to quote it: no control or invisible characters."""
    return _CONTROL.sub("", unicodedata.normalize("NFC", text))


@dataclass(frozen=True, slots=True)
class Sentence:
    """One quotable sentence and the headings above it (context for scoring, never quoted)."""

    text: str
    headings: str


def split_sentences(text: str) -> list[Sentence]:
    """Sentences of a markdown passage; each list item and table row stands on its own."""
    sentences: list[Sentence] = []
    headings: dict[int, str] = {}
    for raw in _BLOCK_BREAK.split(clean(text)):
        flat = " ".join(raw.split())
        if flat.startswith("#"):
            level = len(flat) - len(flat.lstrip("#"))
            headings = {lvl: h for lvl, h in headings.items() if lvl < level}
            headings[level] = flat.lstrip("#").strip()
            continue
        block = _LIST_MARKER.sub("", _INJECTED_MARKER.sub("", flat)).strip(" |")
        merged: list[str] = []
        for piece in _SENTENCE_END.split(block):
            if merged and _ABBREVIATION.search(merged[-1]):
                merged[-1] = f"{merged[-1]} {piece}"
            else:
                merged.append(piece)
        context = " ".join(headings.values())
        sentences.extend(Sentence(" ".join(s.split()), context) for s in merged if s.strip())
    return sentences


@dataclass(frozen=True, slots=True)
class _Candidate:
    passage: int
    position: int
    text: str
    coverage: float
    score: float


class ExtractiveGenerator:
    """Answers with the best-matching sentences of the permitted passages, with ``[n]`` citations.

    A sentence's score is the share of the question's IDF weight (IDF estimated over the
    passages' sentences) that it matches, with terms found only in its headings or the passage
    title counting half; quantities are favoured for how-many/how-much/when questions and very
    short sentences are penalised.

    Args:
        max_sentences: at most this many sentences in an answer.
        min_coverage: the share of the question's weight a sentence must match, with at least two
            question terms (one when the question has one), to count as an answer at all.
    """

    def __init__(self, max_sentences: int = 3, *, min_coverage: float = 0.4) -> None:
        if max_sentences < 1:
            raise ValueError("max_sentences must be at least 1")
        self._max_sentences = max_sentences
        self._min_coverage = min_coverage

    @property
    def name(self) -> str:
        return "extractive-v1"

    def generate(self, question: str, passages: Sequence[Hit], context: AskContext = NO_CONTEXT) -> Completion:
        """Quote the sentences that best answer ``question``; ``NO_ANSWER`` if none do."""
        del context  # quoting needs neither the tenant nor the dates
        chosen = self._choose(question, passages)
        if not chosen:
            return Completion(text=NO_ANSWER, citations=(), answered=False, generator=self.name)
        return self._stitch(chosen, passages)

    def best_passage(self, question: str, passages: Sequence[Hit]) -> int | None:
        """The index of the passage holding the sentence this generator would quote first, or ``None``
        when no sentence covers enough of the question (when it would say ``NO_ANSWER``). Model-backed
        generators get this as the prompt's evidence note (``gateway.generation.prompt``)."""
        ranked = self._ranked(question, passages)
        return ranked[0].passage if ranked else None

    def _ranked(self, question: str, passages: Sequence[Hit]) -> list[_Candidate]:
        query = frozenset(terms(question))
        rows = [
            (p, i, s.text, set(terms(s.text)), set(terms(f"{hit.title} {s.headings}")))
            for p, hit in enumerate(passages)
            for i, s in enumerate(split_sentences(hit.text))
        ]
        if not query or not rows:
            return []
        scorer = _Scorer(query, [row[3] for row in rows], bool(_QUANTITY_QUESTION.search(question)))
        return sorted(
            (c for c in (scorer.score(*row) for row in rows) if c.coverage >= self._min_coverage),
            key=lambda c: (-c.score, c.passage, c.position),
        )

    def _choose(self, question: str, passages: Sequence[Hit]) -> list[_Candidate]:
        ranked = self._ranked(question, passages)
        picked: list[_Candidate] = []
        seen: set[tuple[str, ...]] = set()
        for cand in ranked:
            key = tuple(terms(cand.text))  # chunks overlap: quote the same sentence only once
            if key in seen or (picked and cand.score < picked[0].score * _RUNNER_UP):
                continue
            seen.add(key)
            picked.append(cand)
            if len(picked) == self._max_sentences:
                break
        return picked

    def _stitch(self, chosen: list[_Candidate], passages: Sequence[Hit]) -> Completion:
        # Passages appear in the order of their best sentence; sentences keep their own order.
        order = list(dict.fromkeys(c.passage for c in chosen))
        parts: list[str] = []
        citations: list[Citation] = []
        for marker, passage in enumerate(order, start=1):
            group = sorted((c for c in chosen if c.passage == passage), key=lambda c: c.position)
            parts.append(" ".join(_quote(c.text) for c in group) + f" [{marker}]")
            hit = passages[passage]
            citations.append(
                Citation(
                    marker=marker,
                    document_id=hit.document_id,
                    chunk_id=hit.chunk_id,
                    title=hit.title,
                    version=hit.version,
                    score=hit.score,
                )
            )
        return Completion(text=" ".join(parts), citations=tuple(citations), answered=True, generator=self.name)


class _Scorer:
    """Scores sentences against one question, with IDF over the sentences being considered."""

    def __init__(self, query: frozenset[str], sentence_terms: list[set[str]], wants_quantity: bool) -> None:
        n = len(sentence_terms)
        df = Counter(t for toks in sentence_terms for t in toks & query)
        # BM25-style IDF: always positive, and a question term found nowhere weighs the most.
        self._idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in query}
        self._total = sum(self._idf.values())
        self._query = query
        self._min_terms = min(2, len(query))
        self._wants_quantity = wants_quantity

    def score(self, passage: int, position: int, text: str, own: set[str], context: set[str]) -> _Candidate:
        direct = self._query & own
        indirect = (self._query & context) - direct
        if len(direct) + len(indirect) < self._min_terms:
            return _Candidate(passage, position, text, 0.0, 0.0)
        matched = sum(self._idf[t] for t in direct) + _CONTEXT_WEIGHT * sum(self._idf[t] for t in indirect)
        coverage = matched / self._total
        score = coverage
        if self._wants_quantity and _QUANTITY.search(text):
            score *= 1.3
        if len(own) < 4:  # fragments ("See below.") rarely answer anything
            score *= 0.5
        return _Candidate(passage, position, text, coverage, score)


def _quote(sentence: str) -> str:
    if len(sentence) <= _MAX_SENTENCE_CHARS:
        return sentence
    return sentence[:_MAX_SENTENCE_CHARS].rsplit(" ", 1)[0] + " …"
