"""Known-item metrics, identifier-style queries and the query-adaptive fusion router under test.

The router's classifier is the product's (``gateway.retrieval.adaptive.classify``, the default
``GATEWAY_SEARCH_FUSION=adaptive``); ``adaptive_config`` builds the variants compared here.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from bench.quality_corpus import ManPage
from gateway.retrieval.adaptive import classify
from gateway.retrieval.base import FusionConfig

_LONG_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9]+(?:-[a-z0-9]+)+\b")
"""Long options with at least one inner dash (``--preserve-root``): specific enough to be rare."""
_CONSTANT = re.compile(r"\b[A-Z][A-Z0-9]+_[A-Z0-9_]*[A-Z0-9]\b")
"""C-style constants (``O_CLOEXEC``, ``EPOLL_CTL_ADD``)."""


@dataclass(frozen=True)
class Query:
    """One known-item query: its text, the one right document, and the set it belongs to."""

    text: str
    answer: str
    kind: str
    """``description``, ``page-name``, ``long-option`` or ``constant``."""


@dataclass(frozen=True)
class Scores:
    """Known-item metrics over a query set (ranks are 1-based; 0 means not in the top 10)."""

    mrr10: float
    recall1: float
    recall10: float
    n: int


def rank_of(answer: str, ranked_documents: Sequence[str], k: int = 10) -> int:
    """1-based rank of ``answer`` in the first ``k`` documents, 0 when absent."""
    for i, doc in enumerate(ranked_documents[:k], 1):
        if doc == answer:
            return i
    return 0


def scores(ranks: Sequence[int]) -> Scores:
    r = np.asarray(ranks, dtype=float)
    if r.size == 0:
        return Scores(0.0, 0.0, 0.0, 0)
    rr = np.where(r > 0, 1.0 / np.maximum(r, 1), 0.0)
    return Scores(float(rr.mean()), float((r == 1).mean()), float((r > 0).mean()), int(r.size))


def reciprocal(ranks: Sequence[int]) -> np.ndarray:
    r = np.asarray(ranks, dtype=float)
    return np.where(r > 0, 1.0 / np.maximum(r, 1), 0.0)


def paired_bootstrap(a: Sequence[int], b: Sequence[int], *, rounds: int = 2000, seed: int = 7) -> tuple[float, float]:
    """95% interval of MRR@10(b) - MRR@10(a) over queries resampled with replacement."""
    diff = reciprocal(b) - reciprocal(a)
    if diff.size == 0:
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    means = rng.choice(diff, size=(rounds, diff.size), replace=True).mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def adaptive_config(
    text: str, base: FusionConfig, *, identifier_weight: float, natural: FusionConfig | None
) -> FusionConfig:
    """Identifier queries lean BM25 (weighted fusion); natural ones use ``natural`` (or ``base``)."""
    kind = classify(text)
    if kind == "identifier":
        return replace(base, method="weighted", lexical_weight=identifier_weight)
    if kind == "natural" and natural is not None:
        return natural
    return base


def description_queries(pages: Sequence[ManPage]) -> list[Query]:
    return [Query(p.description, p.document_id, "description") for p in pages]


def identifier_queries(pages: Sequence[ManPage], per_kind: int, seed: int) -> list[Query]:
    """Identifier-style known items whose answer is unambiguous in the indexed corpus.

    ``page-name``: the page's first name (``strncpy``), named by no other sampled page;
    ``long-option`` / ``constant``: a token found in exactly one indexed page (one per page).
    """
    rng = random.Random(seed)
    name_owners = Counter(n.lower() for p in pages for n in set(p.names))
    by_name = [
        Query(p.names[0], p.document_id, "page-name")
        for p in pages
        if p.names and " " not in p.names[0] and name_owners[p.names[0].lower()] == 1
    ]
    out = rng.sample(by_name, min(per_kind, len(by_name)))
    for kind, pattern in (("long-option", _LONG_OPTION), ("constant", _CONSTANT)):
        found = {p.document_id: set(pattern.findall(p.text)) for p in pages}
        owners = Counter(token for tokens in found.values() for token in tokens)
        candidates = [
            Query(rng.choice(sorted(unique)), doc, kind)
            for doc, tokens in sorted(found.items())
            if (unique := {t for t in tokens if owners[t] == 1})
        ]
        out.extend(rng.sample(candidates, min(per_kind, len(candidates))))
    return out
