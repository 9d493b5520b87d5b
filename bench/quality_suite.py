"""The quality suite's plumbing: corpora, one fresh gateway per corpus, candidate lists, metrics.

Each corpus is ingested through the product path (``DocumentService.put_many``, the real
chunker and ``TransformersEmbedder`` behind an on-disk cache) into its own data dir, tenant
``bench``, collection named after the corpus, readable by the benchmark's reader group.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.corpora import SETUP_HINT, Corpus, Query, catalogue, faq, man, techdoc
from bench.embed_cache import CachedEmbedder
from bench.quality_http import READER_GROUP, TENANT, make_settings
from gateway.auth.principal import Principal
from gateway.deps import POLICY_DIR, Services, build_services
from gateway.ingest.documents import Submission
from gateway.ingest.trail import Context
from gateway.retrieval.base import FusionConfig, Hit, SearchRequest, Vector
from gateway.retrieval.embed import TransformersEmbedder
from gateway.settings import EmbeddingSettings, SearchSettings

OUT = Path(__file__).resolve().parent / "out" / "quality"
K = 10
CANDIDATES = 50
IDENTIFIER_KINDS = frozenset({"page-name", "long-option", "constant"})


def query_set(query: Query) -> str:
    """The row a query is reported in: the man corpus has a description set and an identifier set."""
    return "identifiers" if query.kind in IDENTIFIER_KINDS else "questions"


def load_corpora(names: Sequence[str], *, man_pages: int, per_kind: int, seed: int) -> list[Corpus]:
    """The named corpora; exits with the set-up hint when their packages are missing."""
    loaders = {
        "man": (man.available, lambda: man.load(man_pages, seed=seed, cache_dir=OUT / "render", per_kind=per_kind,
                                                max_tokens=200, overlap=30)),
        "faq": (faq.available, faq.load),
        "techdoc": (techdoc.available, techdoc.load),
        "catalogue": (catalogue.available, catalogue.load),
    }  # fmt: skip
    missing = [n for n in names if not loaders[n][0]()]
    if missing:
        print(f"corpora {missing} are not installed: {SETUP_HINT}", file=sys.stderr)
        raise SystemExit(2)
    return [loaders[n][1]() for n in names]


def cached_embedder() -> CachedEmbedder:
    return CachedEmbedder(TransformersEmbedder(EmbeddingSettings()), OUT.parent / "embeddings.sqlite3")


def open_corpus(corpus: Corpus, data_dir: Path, embedder: CachedEmbedder) -> tuple[Services, float]:
    """A fresh gateway over ``data_dir`` with ``corpus`` ingested; also the ingest seconds."""
    services = build_services(make_settings(data_dir, SearchSettings()), embedder=embedder)
    services.start()
    grant = data_dir / "bench-grant.csv"
    grant.write_text(f"p, group:{READER_GROUP}, {TENANT}, collection:{corpus.name}, read, allow\n", encoding="utf-8")
    services.policy.reload_seed(POLICY_DIR, actor="bench", extra_files=[grant])
    docs = [Submission(document_id=d.document_id, collection=corpus.name, title=d.title, text=d.text)
            for d in corpus.docs]  # fmt: skip
    start = time.perf_counter()
    # The ingest flow as the operator CLI runs it (no per-document permission check).
    services.documents.put_many(Context(Principal("cli:bench", TENANT), "bench-ingest"), docs, checked=False)
    return services, time.perf_counter() - start


@dataclass
class Sides:
    """One query's two filtered candidate lists (chunks, best first) and its vector."""

    lexical: list[Hit]
    vector: list[Hit]
    query_vector: Vector


def reader(services: Services) -> Principal:
    return Principal("bench", TENANT, frozenset({READER_GROUP}))


def sides(services: Services, queries: Sequence[Query], *, one_per_document: bool = True) -> list[Sides]:
    """``lexical_search`` / ``vector_search`` per query with the reader's compiled ACL filter."""
    acl = services.policy.compile_filter(reader(services))
    vectors = services.embedder.embed([q.text for q in queries])
    fusion = FusionConfig(candidates=CANDIDATES)
    out = []
    for query, vector in zip(queries, vectors, strict=True):
        request = SearchRequest(
            text=query.text, vector=vector, acl=acl, k=K, fusion=fusion, one_per_document=one_per_document
        )
        out.append(Sides(services.retriever.lexical_search(request), services.retriever.vector_search(request), vector))
    return out


def doc_ranking(hits: Sequence[Hit], k: int = K) -> list[str]:
    """Document ids in order of their best hit."""
    out: list[str] = []
    for hit in hits:
        if hit.document_id not in out:
            out.append(hit.document_id)
            if len(out) == k:
                break
    return out


def rank_of(answer: str, ranking: Sequence[str], k: int = K) -> int:
    """1-based rank of ``answer`` in the first ``k``; 0 when absent."""
    return ranking.index(answer) + 1 if answer in ranking[:k] else 0


@dataclass(frozen=True)
class Metrics:
    mrr10: float
    r10: float
    ndcg10: float
    n: int


def reciprocal(ranks: Sequence[int]) -> np.ndarray:
    r = np.asarray(ranks, dtype=float)
    return np.where(r > 0, 1.0 / np.maximum(r, 1), 0.0)


def metrics(ranks: Sequence[int]) -> Metrics:
    """Known-item metrics (one relevant document): MRR@10, recall@10, nDCG@10 = 1/log2(rank+1)."""
    r = np.asarray(ranks, dtype=float)
    if r.size == 0:
        return Metrics(0.0, 0.0, 0.0, 0)
    ndcg = np.where(r > 0, 1.0 / np.log2(np.maximum(r, 1) + 1), 0.0)
    return Metrics(float(reciprocal(ranks).mean()), float((r > 0).mean()), float(ndcg.mean()), int(r.size))


def bootstrap_ci(
    a: Sequence[int], b: Sequence[int], *, rounds: int = 2000, seed: int = 7
) -> tuple[float, float, float]:
    """MRR@10(b) - MRR@10(a) with its paired-bootstrap 95% interval (queries resampled)."""
    diff = reciprocal(b) - reciprocal(a)
    if diff.size == 0:
        return 0.0, 0.0, 0.0
    rng = np.random.default_rng(seed)
    means = rng.choice(diff, size=(rounds, diff.size), replace=True).mean(axis=1)
    return float(diff.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))
