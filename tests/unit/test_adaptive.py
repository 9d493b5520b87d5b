"""The query-adaptive router: which queries lean on BM25, which on vectors."""

from __future__ import annotations

import pytest

from gateway.retrieval.adaptive import adaptive_fusion, classify
from gateway.retrieval.base import FusionConfig


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("strncpy", "identifier"),
        ("--preserve-root", "identifier"),
        ("EPOLL_CTL_ADD", "identifier"),
        ('"deployment freeze"', "identifier"),
        ("sha256 ext4", "identifier"),
        ("copy files and directories", "natural"),
        ("How long is the on-call rotation?", "natural"),
        ("what does O_CLOEXEC do for open", "mixed"),
        ("how to use --preserve-root with rm", "mixed"),
    ],
)
def test_queries_are_classified(query: str, kind: str) -> None:
    assert classify(query) == kind


def test_identifiers_lean_bm25_prose_leans_vectors_mixed_stays_rrf() -> None:
    base = FusionConfig(method="rrf", rank_constant=60, candidates=50)
    ident = adaptive_fusion("strncpy", base, identifier_weight=0.8, natural_weight=0.3)
    prose = adaptive_fusion("copy files and directories", base, identifier_weight=0.8, natural_weight=0.3)
    mixed = adaptive_fusion("what does O_CLOEXEC do for open", base)
    assert (ident.method, ident.lexical_weight, ident.candidates) == ("weighted", 0.8, 50)
    assert (prose.method, prose.lexical_weight) == ("weighted", 0.3)
    assert mixed == base
