"""Retrieval quality on text no one here wrote: known-item search over Debian man pages.

Each sampled man page is ingested through the product path; its NAME description is the query
and the page the one right answer (see ``bench.quality_corpus`` for the rendering and why the
description line is removed from the indexed text). Hybrid rankings come from ``POST /v1/search``
(RRF, and weighted fusion at a few BM25 weights); BM25-only and dense-only rankings come from
``EmbeddedRetriever.lexical_search`` / ``vector_search`` on the same index with the same ACL filter
(the HTTP API has no single-sided mode), collapsed to one hit per document. The query-adaptive
router is evaluated by re-fusing those two candidate lists with ``gateway.retrieval.fusion``.

    python -m bench.quality            # full run (2,300 pages sampled; ~15 minutes on 2 cores)
    python -m bench.quality --quick    # ~200 pages, under 2 minutes once pages are rendered

Needs the man pages: ``apt-get update && apt-get install -y man-db manpages manpages-dev``.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from bench.quality_corpus import INSTALL_HINT, load_pages, page_files
from bench.quality_eval import (
    Query,
    adaptive_config,
    classify,
    description_queries,
    identifier_queries,
    paired_bootstrap,
    rank_of,
    scores,
)
from bench.quality_http import READER_GROUP, TENANT, http_rankings, ingest, start_services
from gateway.auth.principal import Principal
from gateway.deps import Services
from gateway.retrieval.base import FusionConfig, Hit, SearchRequest
from gateway.retrieval.fusion import fuse, top_k
from gateway.settings import SearchSettings

OUT = Path(__file__).resolve().parent / "out" / "quality"
MIN_PAGES = 100
K = 10


@dataclass
class Candidates:
    """The two filtered candidate lists ``search`` would fuse for one query."""

    lexical: list[Hit]
    vector: list[Hit]


def direct_candidates(services: Services, queries: Sequence[Query], fusion: FusionConfig) -> list[Candidates]:
    """``lexical_search`` / ``vector_search`` per query, with the benchmark reader's ACL filter."""
    acl = services.policy.compile_filter(Principal("bench", TENANT, frozenset({READER_GROUP})))
    vectors = services.embedder.embed([q.text for q in queries])
    out = []
    for query, vector in zip(queries, vectors, strict=True):
        request = SearchRequest(text=query.text, vector=vector, acl=acl, k=K, fusion=fusion)
        retriever = services.retriever
        out.append(Candidates(retriever.lexical_search(request), retriever.vector_search(request)))
    return out


def docs(hits: Sequence[Hit]) -> list[str]:
    return [h.document_id for h in top_k(hits, K, one_per_document=True)]


def fused(cands: Sequence[Candidates], config_of: Callable[[int], FusionConfig]) -> list[list[str]]:
    return [docs(fuse(c.lexical, c.vector, config_of(i))) for i, c in enumerate(cands)]


def ranks(queries: Sequence[Query], rankings: Sequence[Sequence[str]]) -> list[int]:
    return [rank_of(q.answer, r) for q, r in zip(queries, rankings, strict=True)]


def evaluate(services: Services, queries: list[Query], weights: Sequence[float]) -> dict[str, list[int]]:
    """Ranks of the right answer per method (keys are the table's row labels)."""
    base = FusionConfig(candidates=50)
    cands = direct_candidates(services, queries, base)
    texts = [q.text for q in queries]
    out: dict[str, list[int]] = {
        "BM25 only (lexical_search)": ranks(queries, [docs(c.lexical) for c in cands]),
        "dense only (vector_search)": ranks(queries, [docs(c.vector) for c in cands]),
    }
    rankings, per_request = http_rankings(services, SearchSettings(fusion="rrf"), texts)
    out["hybrid RRF k=60 (/v1/search)"] = ranks(queries, rankings)
    print(f"  /v1/search: {per_request * 1000:.1f} ms per request", file=sys.stderr)
    for w in weights:
        rankings, _ = http_rankings(services, SearchSettings(fusion="weighted", lexical_weight=w), texts)
        out[f"hybrid weighted w_bm25={w} (/v1/search)"] = ranks(queries, rankings)
    rankings, _ = http_rankings(services, SearchSettings(fusion="adaptive"), texts)
    out["hybrid adaptive, the default (/v1/search)"] = ranks(queries, rankings)
    out["RRF re-fused here (check)"] = ranks(queries, fused(cands, lambda _: base))
    out["adaptive A: identifier→w_bm25=0.8, else RRF"] = ranks(
        queries, fused(cands, lambda i: adaptive_config(texts[i], base, identifier_weight=0.8, natural=None))
    )
    lean_vectors = replace(base, method="weighted", lexical_weight=0.3)
    out["adaptive B: A + natural→w_bm25=0.3"] = ranks(
        queries,
        fused(cands, lambda i: adaptive_config(texts[i], base, identifier_weight=0.8, natural=lean_vectors)),
    )
    return out


def table(results: dict[str, list[int]], title: str) -> str:
    lines = [f"**{title}**", "", "| method | MRR@10 | recall@1 | recall@10 |", "|---|---:|---:|---:|"]
    for label, r in results.items():
        s = scores(r)
        lines.append(f"| {label} | {s.mrr10:.3f} | {s.recall1:.3f} | {s.recall10:.3f} |")
    return "\n".join(lines)


def by_class(queries: Sequence[Query], results: dict[str, list[int]], rows: Sequence[str]) -> str:
    """MRR@10 per query kind and router class, for the adaptive experiment."""
    groups: dict[str, list[int]] = {}
    for i, q in enumerate(queries):
        groups.setdefault(f"{q.kind} / {classify(q.text)}", []).append(i)
    head = "| query kind / router class | n | " + " | ".join(rows) + " |"
    lines = [head, "|---|---:|" + "---:|" * len(rows)]
    for name, idx in sorted(groups.items()):
        cells = [f"{scores([results[r][i] for i in idx]).mrr10:.3f}" for r in rows]
        lines.append(f"| {name} | {len(idx)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> str:
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln),
        platform.processor(),
    )
    mem = next(ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal"))
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    return f"{nproc} CPUs ({cpu}), {int(mem) / 1024 / 1024:.0f} GiB RAM, Python {platform.python_version()}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="~200 pages (smoke run)")
    parser.add_argument("--pages", type=int, default=None, help="pages to sample (default 2300, quick 200)")
    parser.add_argument("--max-chunks", type=int, default=2, help="chunks kept per page (embedding budget)")
    parser.add_argument("--id-per-kind", type=int, default=None, help="identifier queries per kind")
    parser.add_argument("--weights", default="0.3,0.5,0.7", help="BM25 weights of the weighted variants")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--data-dir", type=Path, default=None, help="fresh data dir (default: a temp dir)")
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)  # casbin and alembic narrate every policy load at INFO
    pages_wanted = args.pages or (200 if args.quick else 2300)
    per_kind = args.id_per_kind or (40 if args.quick else 200)
    available = sum(len(v) for v in page_files().values())
    if available < MIN_PAGES:
        print(f"only {available} man pages under /usr/share/man (need {MIN_PAGES}+): {INSTALL_HINT}", file=sys.stderr)
        return 2
    return run(args, pages_wanted, per_kind)


def run(args: argparse.Namespace, pages_wanted: int, per_kind: int) -> int:
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with tempfile.TemporaryDirectory(prefix="gateway-quality-") as tmp:
        data_dir = args.data_dir or Path(tmp)
        services = start_services(data_dir)
        chunking = services.settings.chunking
        t0 = time.perf_counter()
        pages, sampled = load_pages(
            pages_wanted,
            seed=args.seed,
            cache=OUT / "render",
            max_chunks=args.max_chunks,
            max_tokens=chunking.max_tokens,
            overlap=chunking.overlap_tokens,
        )
        render_s = time.perf_counter() - t0
        print(f"{sampled} pages sampled, {len(pages)} usable ({render_s:.0f} s to render/parse)", file=sys.stderr)
        ingest_s, chunks = ingest(services, pages)
        print(f"ingested {len(pages)} pages / {chunks} chunks in {ingest_s:.0f} s", file=sys.stderr)
        weights = [float(w) for w in args.weights.split(",") if w]
        sets = {"known-item: NAME description → page": description_queries(pages)}
        sets["identifier-style: page name / unique long option / unique constant"] = identifier_queries(
            pages, per_kind, args.seed
        )
        report = [
            f"Run {started}; machine: {machine()}.",
            f"{sampled} pages sampled, {len(pages)} usable, {chunks} chunks "
            f"(≤{args.max_chunks} per page); ingest {ingest_s:.0f} s ({chunks / ingest_s:.0f} chunks/s).",
        ]
        raw: dict[str, dict[str, list[int]]] = {}
        for name, queries in sets.items():
            print(f"evaluating {len(queries)} queries: {name}", file=sys.stderr)
            results = evaluate(services, queries, weights)
            raw[name] = results
            report += ["", table(results, f"{name} ({len(queries)} queries)"), ""]
            report.append(verdict(queries, results))
            rows = [next(r for r in results if "RRF k=60" in r), *[r for r in results if r.startswith("adaptive")]]
            report += ["", by_class(queries, results, rows)]
        services.close()
    text = "\n".join(report)
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / ("quick.md" if args.quick else "full.md")).write_text(text + "\n", encoding="utf-8")
    summary = {s: {m: asdict(scores(r)) for m, r in res.items()} for s, res in raw.items()}
    (OUT / ("quick.json" if args.quick else "full.json")).write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return 0


def verdict(queries: Sequence[Query], results: dict[str, list[int]]) -> str:
    """Paired-bootstrap 95% intervals of the MRR@10 change against /v1/search RRF."""
    rrf = next(r for k, r in results.items() if "RRF k=60" in k)
    lines = []
    for label, r in results.items():
        if label.startswith(("adaptive", "BM25", "dense")):
            lo, hi = paired_bootstrap(rrf, r)
            delta = scores(r).mrr10 - scores(rrf).mrr10
            lines.append(f"- {label} vs hybrid RRF: ΔMRR@10 {delta:+.3f} (95% CI {lo:+.3f} … {hi:+.3f})")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
