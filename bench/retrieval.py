"""Engine-only retrieval benchmark at 100k chunks: ingest, hybrid latency, filtered recall, naive
post-filtering, and the lexical engine choice (SQLite FTS5 vs tantivy).

``python -m bench.retrieval`` (``make bench``); ``--quick`` for a < 60 s smoke run. Sizes are
flags. Every comparison is measured in the same run, on the same corpus and queries.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from bench import lexical_engines
from bench.common import Report, console, latencies, machine, memory_mb, percentiles
from bench.synthetic import CorpusSpec, Query, SyntheticCorpus, draw_queries, sample_passages
from gateway.authz.filter import AclFilter
from gateway.retrieval.base import Chunk, FusionConfig, SearchRequest
from gateway.retrieval.embedded.retriever import EmbeddedRetriever

K = 10
RESULTS = Path(__file__).resolve().parent / "results"
OVERFETCH = (10, 50, 200, 1000)


@dataclass(frozen=True)
class Args:
    chunks: int
    queries: int
    rounds: int
    embed_passages: int
    docs_per_batch: int
    vectors: str
    hnsw: bool
    engines: bool
    directory: Path | None


def parse() -> Args:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="10k chunks, 40 queries, 200 passages embedded")
    p.add_argument("--chunks", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=200, help="queries per user")
    p.add_argument("--rounds", type=int, default=3, help="times each latency query set is repeated")
    p.add_argument("--embed-passages", type=int, default=2_000)
    p.add_argument("--docs-per-batch", type=int, default=1_000, help="documents per replace_documents call")
    p.add_argument("--vectors", choices=("random", "hashing"), default="random")
    p.add_argument("--no-hnsw", action="store_true", help="skip the usearch HNSW naive baseline")
    p.add_argument("--no-engines", action="store_true", help="skip the FTS5 vs tantivy comparison")
    p.add_argument("--dir", type=Path, default=None, help="work directory (default: a temporary one)")
    a = p.parse_args()
    if a.quick:
        a.chunks, a.queries, a.rounds, a.embed_passages = 10_000, 40, 1, 200
    return Args(
        a.chunks, a.queries, a.rounds, a.embed_passages, a.docs_per_batch, a.vectors,
        not a.no_hnsw, not a.no_engines, a.dir,
    )  # fmt: skip


# -- ingest ------------------------------------------------------------------------------------


def ingest(corpus: SyntheticCorpus, directory: Path, docs_per_batch: int) -> tuple[EmbeddedRetriever, Report]:
    retriever = EmbeddedRetriever(directory)
    retriever.ensure_index(f"bench-{corpus.spec.vectors}", corpus.spec.dimension)
    write_s, wall = 0.0, time.perf_counter()
    for items in corpus.batches(docs_per_batch):
        start = time.perf_counter()
        retriever.replace_documents(items)
        write_s += time.perf_counter() - start
    wall = time.perf_counter() - wall
    n = corpus.spec.chunks
    report = Report("Ingest (EmbeddedRetriever.replace_documents)", ["what", "chunks", "seconds", "chunks/s", "target"])
    report.add(
        f"write only, {docs_per_batch * corpus.spec.chunks_per_doc:,} chunks a call", n, write_s, n / write_s, "≥ 5,000"
    )
    report.add("write + generating the synthetic chunks", n, wall, n / wall, "")
    return retriever, report


def embed_ingest(directory: Path, passages: int, write_rate: float, report: Report) -> None:
    """Real transformer embedding of real-ish passages, then the write, measured end to end."""
    from gateway.retrieval.embed import TransformersEmbedder  # noqa: PLC0415 - heavy import

    embedder = TransformersEmbedder()
    texts = sample_passages(passages)
    embedder.embed(texts[:32])  # warm-up: the first batch pays for lazy initialisation
    tokens = float(np.mean([len(embedder._tokenizer(t)["input_ids"]) for t in texts[:200]]))
    start, cpu = time.perf_counter(), time.process_time()
    vectors = embedder.embed(texts)
    embed_s, embed_cpu = time.perf_counter() - start, time.process_time() - cpu
    retriever = EmbeddedRetriever(directory)
    retriever.ensure_index(embedder.model_id, embedder.dimension)
    items: list[tuple[str, str, list[Chunk]]] = [("bench", f"real{d}", []) for d in range(-(-passages // 5))]
    for i, text in enumerate(texts):
        chunk = Chunk(
            chunk_id=f"r{i}",
            document_id=f"real{i // 5}",
            tenant="bench",
            collection="shared",
            version=1,
            ordinal=i % 5,
            title="sample",
            text=text,
            acl_allow=("group:g001",),
            vector=vectors[i],
        )
        items[i // 5][2].append(chunk)
    start = time.perf_counter()
    retriever.replace_documents(items)
    write_s = time.perf_counter() - start
    retriever.close()
    e2e = passages / (embed_s + write_s)
    report.add(
        f"embed (all-MiniLM-L6-v2) + write, {passages:,} real-ish 60-word passages (~{tokens:.0f} tokens)",
        passages,
        embed_s + write_s,
        e2e,
        "≥ 100",
    )
    report.add(
        f"  embedding alone: wall (CPU seconds {embed_cpu:.1f}, {os.cpu_count()} cores)",
        passages,
        embed_s,
        passages / embed_s,
        "",
    )
    extrapolated = 1 / (1 / (passages / embed_s) + 1 / write_rate)
    report.add(
        "  extrapolated to 100k: embed rate ⊕ 100k write rate", 100_000, 100_000 / extrapolated, extrapolated, "≥ 100"
    )


# -- search ------------------------------------------------------------------------------------


def request(q: Query, acl: AclFilter, candidates: int = 50, k: int = K) -> SearchRequest:
    return SearchRequest(q.text, q.vector, acl, k=k, fusion=FusionConfig(candidates=candidates))


def exact_top(vectors: np.ndarray, visible: np.ndarray, q: Query, k: int = K) -> set[int]:
    """Brute force over the permitted rows only."""
    scores = vectors[visible] @ q.vector
    top = np.argpartition(-scores, min(k, scores.size - 1))[:k] if scores.size > k else np.arange(scores.size)
    return set(visible[top].tolist())


def recall(found: Sequence[int], truth: set[int]) -> float:
    return len(set(found[:K]) & truth) / max(1, min(K, len(truth)))


def index_of(hit_chunk_id: str) -> int:
    return int(hit_chunk_id[1:])


def search_section(
    retriever: EmbeddedRetriever, corpus: SyntheticCorpus, queries: list[Query], rounds: int
) -> tuple[Report, Report, dict[str, tuple[AclFilter, np.ndarray, list[set[int]]]]]:
    vectors = corpus.all_vectors()
    lat = Report(
        f"Engine-only latency, ms ({len(queries)} queries x {rounds} rounds, k={K}, 50 candidates a side)",
        [
            "user",
            "visible",
            "hybrid p50",
            "hybrid p95",
            "hybrid p50, BLAS 1 thread",
            "hybrid p95, BLAS 1 thread",
            "hybrid CPU ms p50 / p95, BLAS 1 thread",
            "BM25 p50",
            "vector p50",
            "target (hybrid p95)",
        ],
    )
    rec = Report(
        "Filtered vector search recall@10 vs exact filtered brute force",
        ["user", "visible", "recall@10", "hits outside the filter"],
    )
    truths = {}
    for user in corpus.users():
        acl = corpus.acl_for(user)
        mask = corpus.visible_mask(acl)
        visible = np.flatnonzero(mask)
        hybrid = percentiles(latencies(lambda q, acl=acl: retriever.search(request(q, acl)), queries, rounds=rounds))
        cpu: list[float] = []
        with threadpool_limits(1, "blas"):
            single = percentiles(
                latencies(lambda q, acl=acl: retriever.search(request(q, acl)), queries, rounds=rounds, cpu=cpu)
            )
        lexical = percentiles(latencies(lambda q, acl=acl: retriever.lexical_search(request(q, acl)), queries))
        vector = percentiles(latencies(lambda q, acl=acl: retriever.vector_search(request(q, acl)), queries))
        target = "≤ 5 ms" if user.name == "u5" else ""
        lat.add(
            user.name,
            f"{mask.mean():.2%}",
            *hybrid,
            *single,
            "{:.2f} / {:.2f}".format(*percentiles(cpu)),
            lexical[0],
            vector[0],
            target,
        )
        truth = [exact_top(vectors, visible, q) for q in queries]
        got = [[index_of(h.chunk_id) for h in retriever.vector_search(request(q, acl))] for q in queries]
        leaks = sum(not mask[i] for rows in got for i in rows)
        rec.add(
            user.name,
            f"{mask.mean():.2%}",
            float(np.mean([recall(g, t) for g, t in zip(got, truth, strict=True)])),
            leaks,
        )
        truths[user.name] = (acl, mask, truth)
    return lat, rec, truths


def naive_section(
    retriever: EmbeddedRetriever,
    corpus: SyntheticCorpus,
    queries: list[Query],
    truths: dict[str, tuple[AclFilter, np.ndarray, list[set[int]]]],
    hnsw: bool,
) -> Report:
    """Top-N unfiltered, then drop forbidden hits: what a filter-less engine would have to do."""
    everyone = AclFilter(corpus.spec.tenant, frozenset(), None)
    report = Report(
        "Naive alternative: unfiltered top-N, then drop forbidden hits (recall@10 vs exact filtered; 1 thread)",
        ["method", "over-fetch N", "u5 recall@10", "u1 recall@10", "p50 ms"],
    )
    for n in OVERFETCH:
        ranked = []
        ms = latencies(
            lambda q, n=n, ranked=ranked: ranked.append(retriever.vector_search(request(q, everyone, candidates=n))),
            queries,
            warmup=0,
        )
        rows = [[index_of(h.chunk_id) for h in hits] for hits in ranked]
        cells = []
        for name in ("u5", "u1"):
            _, mask, truth = truths[name]
            cells.append(
                float(np.mean([recall([i for i in r if mask[i]], t) for r, t in zip(rows, truth, strict=True)]))
            )
        report.add("same engine, all-seeing filter", n, *cells, percentiles(ms)[0])
    if hnsw:
        _hnsw_rows(corpus, queries, truths, report)
    for name in ("u5",):
        acl, _, _ = truths[name]
        ms = latencies(lambda q, acl=acl: retriever.vector_search(request(q, acl)), queries)
        report.add(f"ours: ACL pre-filter inside the search ({name})", "—", 1.0, 1.0, percentiles(ms)[0])
    return report


def _hnsw_rows(corpus: SyntheticCorpus, queries: list[Query], truths: dict, report: Report) -> None:
    try:
        from usearch.index import Index  # noqa: PLC0415 - optional (bench/requirements.txt)
    except ImportError:
        console.print("[yellow]usearch not installed: HNSW baseline skipped (pip install -r bench/requirements.txt)")
        return
    index = Index(ndim=corpus.spec.dimension, metric="ip", dtype="f32", connectivity=16, expansion_add=128)
    start = time.perf_counter()
    index.add(np.arange(corpus.spec.chunks), corpus.all_vectors(), threads=2)
    console.print(f"usearch HNSW build: {time.perf_counter() - start:.1f} s for {corpus.spec.chunks:,} vectors")
    for n in OVERFETCH:
        index.expansion_search = max(n, 64)
        found = []
        ms = latencies(
            lambda q, n=n, found=found: found.append(index.search(q.vector, n, threads=1).keys), queries, warmup=0
        )
        cells = []
        for name in ("u5", "u1"):
            _, mask, truth = truths[name]
            cells.append(
                float(np.mean([recall([int(i) for i in r if mask[i]], t) for r, t in zip(found, truth, strict=True)]))
            )
        report.add("usearch HNSW (M=16, ef=max(N,64))", n, *cells, percentiles(ms)[0])


def engines_section(corpus: SyntheticCorpus, directory: Path, queries: list[Query], rounds: int) -> Report:
    fts, tan, build_s = lexical_engines.build(corpus, directory)
    report = Report(
        "Lexical engine choice: BM25 top-50 + ACL filter, same corpus and queries "
        f"(build: FTS5 {build_s['fts5']:.0f} s, tantivy {build_s['tantivy']:.0f} s)",
        [
            "user",
            "FTS5 p50",
            "FTS5 p95",
            "tantivy p50",
            "tantivy p95",
            "FTS5 / tantivy (p50)",
            "top-10 overlap",
            "leaks",
        ],
    )
    for user in corpus.users():
        acl = corpus.acl_for(user)
        r = lexical_engines.compare(fts, tan, acl, corpus.visible_mask(acl), queries, rounds)
        (f50, f95), (t50, t95) = r["fts5"], r["tantivy"]  # type: ignore[misc]
        report.add(user.name, f50, f95, t50, t95, f"{f50 / t50:.1f}x", r["overlap"], r["leaks"])
    return report


def main() -> None:
    args = parse()
    console.print(machine())
    work = args.directory or Path(tempfile.mkdtemp(prefix="bench-retrieval-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        corpus = SyntheticCorpus(CorpusSpec(chunks=args.chunks, vectors=args.vectors))
        retriever, ingest_report = ingest(corpus, work / "index", args.docs_per_batch)
        ingest_report.print()
        queries = draw_queries(corpus, args.queries)
        lat, rec, truths = search_section(retriever, corpus, queries, args.rounds)
        lat.print()
        rec.print()
        with threadpool_limits(1, "blas"):  # every row single-threaded, like the HNSW searches
            naive = naive_section(retriever, corpus, queries, truths, args.hnsw)
        naive.print()
        reports = [ingest_report, lat, rec, naive]
        if args.engines:
            engines = engines_section(corpus, work / "engines", queries, args.rounds)
            engines.print()
            reports.append(engines)
        console.print(f"memory: {memory_mb()}")
        retriever.close()
        if args.embed_passages:
            # Last: torch's thread pool must not share the CPU with the latency runs above.
            write_rate = float(ingest_report.rows[0][3])
            embed_ingest(work / "embedded-real", args.embed_passages, write_rate, ingest_report)
            ingest_report.print()
        out = RESULTS / ("retrieval-quick.md" if args.chunks < 100_000 else "retrieval.md")
        out.write_text(machine() + "\n\n" + "\n".join(r.markdown() for r in reports), encoding="utf-8")
        console.print(f"markdown tables: {out}")
    finally:
        if args.directory is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
