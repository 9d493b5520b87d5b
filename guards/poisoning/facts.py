"""Do two passages about the same thing state different facts?

Sentences of a passage are aligned with the sentences of a trusted passage by shared content
words; in each aligned pair the words that differ are compared: a changed number or date, a
changed name (a capitalised or identifier-like word), or a negation present on one side only is a
contradiction. Deliberately lexical: no NLI model can be installed here, and a planted answer must
share its target's vocabulary to be retrieved for it.
"""

# ruff: noqa: RUF001 - typographic apostrophes occur in real text and must tokenise.

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

# Sentence ends, or blank lines; a single newline is a hard wrap (man pages wrap at 80 columns).
_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+|\n\s*\n")
_TOKEN = re.compile(r"\d+(?:[.,:/-]\d+)*%?|[^\W\d_][\w'’-]*", re.UNICODE)
_NUMBER = re.compile(r"^\d")
_NEGATIONS = frozenset(
    {"not", "no", "never", "none", "cannot", "can't", "don't", "doesn't", "isn't", "aren't", "won't", "without"}
    | {"nicht", "kein", "keine", "nie", "ne", "pas", "jamais", "nunca", "sin"}
)
_STOP = frozenset(
    {"a", "an", "the", "of", "to", "in", "on", "at", "for", "by", "with", "and", "or", "is", "are", "was"}
    | {"were", "be", "been", "it", "its", "this", "that", "as", "from", "which", "who", "what", "when", "how"}
    | {"why", "do", "does", "did", "has", "have", "had", "will", "would", "can", "could", "should", "may"}
)
MIN_JACCARD = 0.5
"""Content-word overlap (Jaccard) two sentences need to be "about the same thing"."""
SAME_WORDING = 0.8
MIN_CONTENT = 5
"""Sentences with fewer content words are fragments (a heading, a table cell): never compared."""


@dataclass(frozen=True, slots=True)
class Contradiction:
    kind: str
    """``number``, ``entity`` or ``negation``."""
    claimed: str
    trusted: str


def sentences(text: str) -> list[str]:
    """Sentences, with hard-wrapped lines joined and every table row (a line with ``|``) on its own."""
    blocks: list[str] = []
    for line in text.split("\n"):
        if "|" in line or not blocks or not line.strip() or "|" in blocks[-1] or not blocks[-1].strip():
            blocks.append(line)
        else:
            blocks[-1] += " " + line
    pieces = (piece for block in blocks for piece in _SENTENCE.split(block))
    return [" ".join(p.split()) for p in pieces if len(p.split()) >= 3]


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A sentence tokenised once: trusted sentences are compared with many claims."""

    tokens: tuple[str, ...]
    lower: tuple[str, ...]
    counts: Counter[str]
    content: frozenset[str]
    """Content words (stop words and negations removed), lower-cased."""
    negations: frozenset[str]


@lru_cache(maxsize=16384)
def _prepared(sentence: str) -> _Prepared:
    tokens = tuple(_TOKEN.findall(sentence))
    lower = tuple(t.lower() for t in tokens)
    content = frozenset(t for t in lower if t not in _STOP) - _NEGATIONS
    return _Prepared(tokens, lower, Counter(lower), content, frozenset(lower) & _NEGATIONS)


def _same_wording(a: _Prepared, b: _Prepared) -> difflib.SequenceMatcher[str] | None:
    """The matcher when the token sequences are at least ``SAME_WORDING`` alike, else ``None``.

    The bag-of-tokens bound (``SequenceMatcher.quick_ratio``, never below the real ratio) is
    checked first: most sentence pairs fail it, and building the matcher costs ten times more.
    """
    total = len(a.lower) + len(b.lower)
    if 2 * min(len(a.lower), len(b.lower)) < SAME_WORDING * total:
        return None
    if 2 * sum((a.counts & b.counts).values()) < SAME_WORDING * total:
        return None
    matcher = difflib.SequenceMatcher(a=list(a.lower), b=list(b.lower), autojunk=False)
    return matcher if matcher.ratio() >= SAME_WORDING else None


def _kind(word: str, position: int) -> str | None:
    if _NUMBER.match(word):
        return "number"
    if word.lower() in _STOP:
        return None
    # A capital at the start of a sentence says nothing; elsewhere it marks a name.
    if (word[:1].isupper() and position > 0) or any(c.isdigit() for c in word) or "_" in word:
        return "entity"
    return None


def compare_sentences(claim: str, trusted: str) -> Contradiction | None:
    """A contradiction between two sentences about the same thing, if they state different facts.

    "The same thing": nearly the same wording (token sequence similarity at least ``SAME_WORDING``,
    which catches a copied sentence with one value changed, even a short one), or, for paraphrases,
    a content-word Jaccard of at least ``MIN_JACCARD`` over sentences of ``MIN_CONTENT`` words.
    """
    pa, pb = _prepared(claim), _prepared(trusted)
    a, b = pa.tokens, pb.tokens
    if min(len(a), len(b)) < 3:
        return None
    matcher = _same_wording(pa, pb)
    if matcher is None:
        ca, cb = pa.content, pb.content
        if min(len(ca), len(cb)) < MIN_CONTENT or len(ca & cb) / len(ca | cb) < MIN_JACCARD:
            return None
        matcher = difflib.SequenceMatcher(a=list(pa.lower), b=list(pb.lower), autojunk=False)
    if bool(pa.negations) != bool(pb.negations):
        return Contradiction("negation", claim, trusted)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op != "replace":
            continue
        for offset, (old, new) in enumerate(zip(b[j1:j2], a[i1:i2], strict=False)):
            kind = _kind(old, j1 + offset)
            if kind and kind == _kind(new, i1 + offset) and old.lower() != new.lower():
                return Contradiction(kind, claim, trusted)
    return None


def contradiction(claim_text: str, trusted_text: str) -> Contradiction | None:
    """The first contradiction between any sentence of ``claim_text`` and any of ``trusted_text``."""
    trusted = sentences(trusted_text)
    for claim in sentences(claim_text):
        for sentence in trusted:
            if found := compare_sentences(claim, sentence):
                return found
    return None
