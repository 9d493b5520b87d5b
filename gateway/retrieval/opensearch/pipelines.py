"""Search pipelines the gateway creates, and what a cluster version supports.

The ``hybrid`` query returns per-subquery scores; a search pipeline with a phase-results
processor turns them into one score. Pipelines are named by their parameters, so a request whose
``FusionConfig`` differs from the configured one never runs under the wrong weights: it falls
back to client-side fusion instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.retrieval.base import FusionConfig

Body = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ClusterFeatures:
    """What the connected cluster can do, from ``GET /`` (``version.number``)."""

    version: tuple[int, int]
    distribution: str = "opensearch"

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> ClusterFeatures:
        """Parse ``GET /``; an unparsable version counts as 0.0 (client-side fusion only)."""
        version = info.get("version") or {}
        number = str(version.get("number", "0.0"))
        try:
            major, minor = (int(part) for part in number.split("-", maxsplit=1)[0].split(".")[:2])
        except ValueError:
            major, minor = 0, 0
        # OpenSearch (and Amazon OpenSearch Service) always report a distribution; a server that
        # does not (Elasticsearch) gets client-side fusion only.
        return cls((major, minor), str(version.get("distribution", "unknown")))

    @property
    def is_opensearch(self) -> bool:
        return self.distribution == "opensearch"

    @property
    def hybrid_query(self) -> bool:
        """``hybrid`` query + ``normalization-processor``: OpenSearch 2.10."""
        return self.is_opensearch and self.version >= (2, 10)

    @property
    def inner_product(self) -> bool:
        """``innerproduct`` space on the Lucene k-NN engine: OpenSearch 2.13."""
        return self.is_opensearch and self.version >= (2, 13)

    @property
    def rrf(self) -> bool:
        """``score-ranker-processor`` (RRF): OpenSearch 2.19."""
        return self.is_opensearch and self.version >= (2, 19)

    @property
    def pagination_depth(self) -> bool:
        """``hybrid.pagination_depth``: OpenSearch 2.19."""
        return self.is_opensearch and self.version >= (2, 19)

    @property
    def score_explanation(self) -> bool:
        """``hybrid_score_explanation`` response processor: OpenSearch 2.19."""
        return self.is_opensearch and self.version >= (2, 19)

    @property
    def hybrid_filter(self) -> bool:
        """``hybrid.filter`` (one filter pushed into every subquery): OpenSearch 3.0."""
        return self.is_opensearch and self.version >= (3, 0)

    def supports(self, fusion: FusionConfig) -> bool:
        """Whether a server-side pipeline can implement ``fusion``."""
        return self.rrf if fusion.method == "rrf" else self.hybrid_query


def pipeline_name(alias: str, fusion: FusionConfig, *, explain: bool = False) -> str:
    """A name that encodes the parameters: ``<alias>-rrf-60`` or ``<alias>-weighted-0.500``."""
    if fusion.method == "rrf":
        name = f"{alias}-rrf-{fusion.rank_constant}"
    else:
        name = f"{alias}-weighted-{fusion.lexical_weight:.3f}"
    return f"{name}-explain" if explain else name


def _weights(fusion: FusionConfig) -> list[float]:
    # Order matches hybrid.queries: [lexical, knn]. Rounded so they sum to exactly 1.0.
    lexical = round(fusion.lexical_weight, 3)
    return [lexical, round(1.0 - lexical, 3)]


def pipeline_body(fusion: FusionConfig, *, explain: bool = False) -> Body:
    """``PUT /_search/pipeline/<name>`` body for ``fusion`` (weighted or RRF)."""
    processor: Body
    if fusion.method == "rrf":
        processor = {
            "score-ranker-processor": {"combination": {"technique": "rrf", "rank_constant": fusion.rank_constant}}
        }
    else:
        processor = {
            "normalization-processor": {
                "normalization": {"technique": "min_max"},
                "combination": {"technique": "arithmetic_mean", "parameters": {"weights": _weights(fusion)}},
            }
        }
    body: Body = {
        "description": f"gateway hybrid fusion ({fusion.method}); managed by the gateway, do not edit",
        "phase_results_processors": [processor],
    }
    if explain:
        body["response_processors"] = [{"hybrid_score_explanation": {}}]
    return body
