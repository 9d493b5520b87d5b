"""Query-adaptive fusion: a lexical weight per kind of query, learned once on the dev splits.

``classify`` sorts a query into ``identifier`` (a quoted phrase, one token, or up to three tokens
that all look like code), ``question`` (ends with "?" or opens with a question word: "how do I
...", "is there ..."), ``natural`` (other words-only text) or ``mixed`` (words and code). Each kind
gets its own BM25 weight in min-max weighted fusion (``gateway.retrieval.fusion``), fused per
document. The weights were chosen on the dev splits of all corpora of bench/quality.py together
(man pages, three FAQs, two technical manuals, the Debian package catalogue; bench/quality_tune.py)
and are the same for every corpus and tenant -- no per-corpus tuning:

* identifiers lean on BM25 (0.6): exact codes are what BM25 is for, the dense side blurs them;
* questions lean on vectors (0.3): paraphrase and function words, where BM25 was weakest (FAQ
  BM25 MRR@10 0.59 against 0.83 dense on dev);
* other prose and mixed queries weigh both sides equally (0.5).

Dev MRR@10 averaged over the corpora and query sets (bench/quality_tune.py, the product's own
candidate lists): 0.863, against 0.836 for the better single side of each, 0.791 for RRF and
0.833 for one weight (0.5) for every query; the optimum is flat (question 0.25-0.3, prose 0.4-0.5
within 0.001).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

from gateway.retrieval.base import FusionConfig
from gateway.settings import SearchSettings

QueryKind = Literal["identifier", "question", "natural", "mixed"]

_QUESTION = re.compile(
    r"^(?:what|how|why|when|where|which|who|whom|whose|can|could|does|do|did|is|are|was|were|should"
    r"|would|will|shall|may|might|must|has|have|had|am)\b",
    re.IGNORECASE,
)
"""A question word or an auxiliary that opens a yes/no question."""

# A code-looking token: an option (-x, --long), snake_case or CONST_NAME, a::path, a call(),
# dotted.name or a/path, camelCase, letters glued to digits (ext4, sha256), or a ticket-style id (ENG-3).
_CODE_TOKEN = re.compile(r"^-{1,2}\w|_|::|\(\)|\w\.\w|\w/\w|[a-z][A-Z]|[A-Za-z]\d|\w-\d")


PHRASE_BOOST = 2.0
"""Weight of a compound identifier's parts found in sequence, on every backend (tuned on the man-page
identifier set of bench/quality.py)."""

_COMPOUND = re.compile(r"\w+(?:[-_./:]+\w+)+")
"""Tokens an analyzer splits on inner punctuation: --options, CONST_NAMES, dotted.names, paths."""


def compound_tokens(text: str) -> list[str]:
    """The compound identifiers of ``text`` (``preserve-root``, ``EPOLL_CTL_ADD``), once each, in order.

    Every backend gives each one a boosted phrase clause, so the exact identifier outranks its
    parts scattered through a passage (bench/quality.py: identifier MRR@10 0.68 -> 0.93). Only
    tokens that look like code count (or every token of an identifier query): a hyphenated word of
    prose ("read-only", "command-line") is not an identifier, and boosting it as a phrase took the
    BM25 side away from plain BM25 on prose (dev splits: man descriptions 0.018 below a textbook
    Okapi BM25, the package catalogue 0.013).
    """
    identifier = classify(text) == "identifier"
    found = (m.group(0) for t in text.split() if identifier or _CODE_TOKEN.search(t) for m in _COMPOUND.finditer(t))
    return list(dict.fromkeys(found))


def classify(text: str) -> QueryKind:
    """``identifier``, ``question``, ``natural`` or ``mixed``."""
    stripped = text.strip()
    if len(stripped) > 1 and stripped[0] == stripped[-1] and stripped[0] in "\"'":
        return "identifier"
    tokens = stripped.split()
    code = [t for t in tokens if _CODE_TOKEN.search(t)]
    if len(tokens) == 1 or (len(tokens) <= 3 and len(code) == len(tokens)):
        return "identifier"
    if stripped.endswith("?") or _QUESTION.match(stripped):
        return "question"
    return "mixed" if code else "natural"


@dataclass(frozen=True, slots=True)
class AdaptiveWeights:
    """The BM25 weight for each kind of query (the vector side gets the rest)."""

    identifier: float = 0.6
    question: float = 0.3
    natural: float = 0.5
    mixed: float = 0.5

    def of(self, kind: QueryKind) -> float:
        return float(getattr(self, kind))

    @classmethod
    def from_settings(cls, search: SearchSettings) -> AdaptiveWeights:
        return cls(
            identifier=search.adaptive_identifier_weight,
            question=search.adaptive_question_weight,
            natural=search.adaptive_natural_weight,
            mixed=search.adaptive_mixed_weight,
        )

    def distinct(self) -> tuple[float, ...]:
        """The distinct weights (one OpenSearch pipeline each)."""
        return tuple(dict.fromkeys((self.identifier, self.question, self.natural, self.mixed)))


def adaptive_fusion(text: str, base: FusionConfig, weights: AdaptiveWeights | None = None) -> FusionConfig:
    """The fusion for one query: min-max weighted, with the BM25 weight of the query's kind."""
    chosen = (weights or AdaptiveWeights()).of(classify(text))
    return replace(base, method="weighted", lexical_weight=chosen)
