"""Retrieval quality on text no one here wrote: the suite of public corpora, through ``/v1/search``.

Four corpora of different kinds (``bench.corpora``): Debian man pages (description -> page, plus
identifier queries), three FAQs (question -> answer), two technical manuals (section heading ->
section) and the Debian package catalogue (synopsis -> description). Each corpus is ingested
through the product into a fresh gateway; every query of the chosen split is asked through
``POST /v1/search`` (Litestar's in-process test client: authentication, the Casbin filter,
embedding, search, re-check and the audit row) with the default settings, and again with
``GATEWAY_SEARCH_FUSION=rrf`` and ``weighted`` (0.5). The BM25-only and dense-only rankings, which
HTTP does not offer, come from ``lexical_search`` / ``vector_search`` with the same filter, one hit
per document. A textbook Okapi BM25 (``bench.reference_bm25``) on the same chunks checks the BM25
side. The default's MRR@10 minus the better side's gets a paired-bootstrap 95% interval.

Anything tuned was tuned on the dev split (``bench.quality_tune``); report the test split.

    make bench-setup                     # the Debian packages the corpora come from (once)
    python -m bench.quality              # test split, every corpus (~10 min on 2 cores, embeddings cached)
    python -m bench.quality --split dev --corpora faq,techdoc
"""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.common import machine
from bench.corpora import Corpus, Query
from bench.quality_http import http_rankings
from bench.quality_suite import (
    OUT,
    Metrics,
    bootstrap_ci,
    cached_embedder,
    doc_ranking,
    load_corpora,
    metrics,
    open_corpus,
    query_set,
    rank_of,
    sides,
)
from bench.reference_bm25 import ReferenceBM25
from gateway.deps import Services
from gateway.settings import SearchSettings

METHODS = ("BM25", "dense", "RRF", "weighted 0.5", "default")
HTTP_SETTINGS = {
    "RRF": SearchSettings(fusion="rrf"),
    "weighted 0.5": SearchSettings(fusion="weighted", lexical_weight=0.5),
    "default": SearchSettings(),
}


@dataclass
class Row:
    """One corpus (and query set): ranks of the right answer per method."""

    name: str
    n: int
    ranks: dict[str, list[int]]
    ms_per_request: float

    def metrics(self, method: str) -> Metrics:
        return metrics(self.ranks[method])

    def best_side(self) -> str:
        return max(("BM25", "dense"), key=lambda m: self.metrics(m).mrr10)


def reference(data_dir: Path) -> ReferenceBM25:
    """Okapi BM25 over exactly the chunks the engine indexed (title + text, as its BM25 field)."""
    db = sqlite3.connect(data_dir / "index" / "chunks.sqlite3")
    rows = db.execute("SELECT document_id, title, text FROM chunks WHERE live = 1 ORDER BY row").fetchall()
    db.close()
    return ReferenceBM25([(str(d), f"{t}\n\n{x}") for d, t, x in rows])


def evaluate(corpus: Corpus, services: Services, data_dir: Path, queries: list[Query]) -> list[Row]:
    """Rows for each query set of the corpus (the man pages have two)."""
    found = sides(services, queries)
    ref = reference(data_dir)
    ranks: dict[str, list[int]] = {
        "BM25": [rank_of(q.answer, doc_ranking(s.lexical)) for q, s in zip(queries, found, strict=True)],
        "dense": [rank_of(q.answer, doc_ranking(s.vector)) for q, s in zip(queries, found, strict=True)],
        "reference BM25": [rank_of(q.answer, ref.rank(q.text)) for q in queries],
    }
    seconds: dict[str, float] = {}
    for method, settings in HTTP_SETTINGS.items():
        rankings, seconds[method] = http_rankings(services, settings, [q.text for q in queries])
        ranks[method] = [rank_of(q.answer, r) for q, r in zip(queries, rankings, strict=True)]
    out = []
    for group in dict.fromkeys(query_set(q) for q in queries):
        idx = [i for i, q in enumerate(queries) if query_set(q) == group]
        name = corpus.name if group == "questions" else f"{corpus.name} ({group})"
        picked = {m: [r[i] for i in idx] for m, r in ranks.items()}
        out.append(Row(name, len(idx), picked, seconds["default"] * 1000))
    return out


def table(rows: Sequence[Row]) -> str:
    head = ["corpus", "n", *[f"{m} MRR / R@10 / nDCG" for m in METHODS], "default - best side (95% CI)"]
    lines = ["| " + " | ".join(head) + " |", "|---|---:|" + "---:|" * (len(METHODS) + 1)]
    for row in rows:
        cells = []
        for m in METHODS:
            s = row.metrics(m)
            cells.append(f"{s.mrr10:.3f} / {s.r10:.3f} / {s.ndcg10:.3f}")
        best = row.best_side()
        delta, lo, hi = bootstrap_ci(row.ranks[best], row.ranks["default"])
        lines.append(
            f"| {row.name} | {row.n} | " + " | ".join(cells) + f" | {delta:+.3f} ({lo:+.3f} … {hi:+.3f}) vs {best} |"
        )
    mean = {m: sum(r.metrics(m).mrr10 for r in rows) / len(rows) for m in METHODS}
    best_mean = sum(r.metrics(r.best_side()).mrr10 for r in rows) / len(rows)
    cells = [f"{mean[m]:.3f}" for m in METHODS]
    lines.append(
        "| mean MRR@10 | | " + " | ".join(cells) + f" | {mean['default'] - best_mean:+.3f} vs the better side of each |"
    )
    return "\n".join(lines)


def bm25_check(rows: Sequence[Row]) -> str:
    lines = [
        "| corpus | engine BM25 MRR@10 | reference Okapi BM25 MRR@10 | engine - reference |",
        "|---|---:|---:|---:|",
    ]
    for row in rows:
        engine, ref = row.metrics("BM25").mrr10, metrics(row.ranks["reference BM25"]).mrr10
        lines.append(f"| {row.name} | {engine:.3f} | {ref:.3f} | {engine - ref:+.3f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpora", default="man,faq,techdoc,catalogue")
    parser.add_argument("--split", choices=("test", "dev"), default="test")
    parser.add_argument("--man-pages", type=int, default=1000, help="man pages sampled (embedding budget)")
    parser.add_argument("--per-kind", type=int, default=100, help="man-page identifier queries per kind")
    parser.add_argument("--seed", type=int, default=20240611)
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)  # casbin and alembic narrate every policy load at INFO
    started = machine()
    corpora = load_corpora(args.corpora.split(","), man_pages=args.man_pages, per_kind=args.per_kind, seed=args.seed)
    embedder = cached_embedder()
    rows: list[Row] = []
    notes = []
    for corpus in corpora:
        queries = corpus.split(args.split)
        with tempfile.TemporaryDirectory(prefix="gateway-quality-") as tmp:
            services, ingest_s = open_corpus(corpus, Path(tmp), embedder)
            t0 = time.perf_counter()
            rows += evaluate(corpus, services, Path(tmp), queries)
            services.close()
        notes.append(
            f"- {corpus.name} ({corpus.kind}; {corpus.source}): {len(corpus.docs)} documents, "
            f"{len(queries)} {args.split} queries; ingest {ingest_s:.0f} s, evaluation {time.perf_counter() - t0:.0f} s"
        )
        print(notes[-1], file=sys.stderr)
    report = "\n".join(
        [
            f"Run: {started}. Split: **{args.split}**. Embeddings computed this run: {embedder.computed}.",
            "",
            *notes,
            "",
            table(rows),
            "",
            "BM25 side against a textbook Okapi BM25 (k1 1.2, b 0.75, same analyzer, same chunks):",
            "",
            bm25_check(rows),
            "",
            "`/v1/search` (default settings, in-process client) mean ms per request: "
            + ", ".join(f"{r.name} {r.ms_per_request:.1f}" for r in rows),
        ]
    )
    print(report)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"suite-{args.split}.md").write_text(report + "\n", encoding="utf-8")
    summary = {r.name: {m: asdict(metrics(v)) for m, v in r.ranks.items()} for r in rows}
    (OUT / f"suite-{args.split}.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
