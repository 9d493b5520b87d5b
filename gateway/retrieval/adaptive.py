"""Query-adaptive fusion: identifiers lean on BM25, natural-language questions lean on vectors.

Kept because the benchmark says it helps (docs/benchmarks.md, "Retrieval quality"): on 2,147
Debian man-page known items plus 600 identifier queries, plain RRF tied dense-only on
descriptions and lost to BM25-only on identifiers; this router beat both single-sided rankings on
both sets (MRR@10 0.722 vs 0.695 dense; 0.682 vs 0.679 BM25).

``classify`` sorts a query into ``identifier`` (a quoted phrase, one token, or up to three tokens
that all look like code), ``natural`` (words only) or ``mixed``; mixed queries keep plain RRF.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Literal

from gateway.retrieval.base import FusionConfig

QueryKind = Literal["identifier", "natural", "mixed"]

# A code-looking token: an option (-x, --long), snake_case or CONST_NAME, a::path, a call(),
# dotted.name or a/path, camelCase, or letters glued to digits (ext4, sha256).
_CODE_TOKEN = re.compile(r"^-{1,2}\w|_|::|\(\)|\w\.\w|\w/\w|[a-z][A-Z]|[A-Za-z]\d")


PHRASE_BOOST = 2.0
"""Weight of a compound identifier's parts found in sequence, on every backend (tuned on the man-page
identifier set of bench/quality.py)."""

_COMPOUND = re.compile(r"\w+(?:[-_./:]+\w+)+")
"""Tokens an analyzer splits on inner punctuation: --options, CONST_NAMES, dotted.names, paths."""


def compound_tokens(text: str) -> list[str]:
    """The compound identifiers of ``text`` (``preserve-root``, ``EPOLL_CTL_ADD``), once each, in order.

    Every backend gives each one a boosted phrase clause, so the exact identifier outranks its
    parts scattered through a passage (bench/quality.py: identifier MRR@10 0.68 -> 0.93).
    """
    return list(dict.fromkeys(m.group(0) for m in _COMPOUND.finditer(text)))


def classify(text: str) -> QueryKind:
    """``identifier``, ``natural`` or ``mixed``."""
    stripped = text.strip()
    if len(stripped) > 1 and stripped[0] == stripped[-1] and stripped[0] in "\"'":
        return "identifier"
    tokens = stripped.split()
    code = [t for t in tokens if _CODE_TOKEN.search(t)]
    if len(tokens) == 1 or (len(tokens) <= 3 and len(code) == len(tokens)):
        return "identifier"
    return "mixed" if code else "natural"


def adaptive_fusion(
    text: str, base: FusionConfig, *, identifier_weight: float = 0.8, natural_weight: float = 0.3
) -> FusionConfig:
    """The fusion for one query: weighted toward BM25 for identifiers, toward vectors for prose."""
    kind = classify(text)
    if kind == "identifier":
        return replace(base, method="weighted", lexical_weight=identifier_weight)
    if kind == "natural":
        return replace(base, method="weighted", lexical_weight=natural_weight)
    return replace(base, method="rrf")
