"""The query-adaptive router: which queries lean on BM25, which on vectors."""

from __future__ import annotations

import pytest

from gateway.retrieval.adaptive import AdaptiveWeights, adaptive_fusion, classify
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
        ("How long is the on-call rotation?", "question"),
        ("Is there a Debian mailing list", "question"),
        ("the on-call rotation length?", "question"),
        ("does O_CLOEXEC matter for open", "question"),
        ("set core.editor in the git config", "mixed"),
        ("whatever happened to the release notes", "natural"),
        ("use --preserve-root with rm", "mixed"),
    ],
)
def test_queries_are_classified(query: str, kind: str) -> None:
    assert classify(query) == kind


@pytest.mark.parametrize(
    ("query", "weight"),
    [
        ("strncpy", 0.6),  # identifier: leans on BM25
        ("How do I configure a different editor?", 0.3),  # question: leans on vectors
        ("copy files and directories", 0.5),  # other prose
        ("use --preserve-root with rm", 0.5),  # mixed
    ],
)
def test_each_kind_of_query_gets_its_dev_learned_bm25_weight(query: str, weight: float) -> None:
    base = FusionConfig(method="rrf", rank_constant=60, candidates=50)
    fusion = adaptive_fusion(query, base, AdaptiveWeights())
    assert (fusion.method, fusion.lexical_weight, fusion.candidates) == ("weighted", weight, 50)


def test_weights_come_from_the_settings() -> None:
    from gateway.settings import SearchSettings

    weights = AdaptiveWeights.from_settings(SearchSettings(adaptive_question_weight=0.1))
    assert weights == AdaptiveWeights(question=0.1)
    assert weights.distinct() == (0.6, 0.1, 0.5)
