"""Scale: 1M chunks (random vectors), engine only: ingest time, hybrid latency at 5% and 100%
visibility, resident memory after ingest and after a cold re-open.

``python -m bench.scale`` (1M chunks, expect ~10-15 min on 2 cores); ``--quick`` runs 50k chunks.
``--profile`` adds a cProfile of the 100%-visibility search.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

from bench.common import Report, console, latencies, machine, memory_mb, percentiles
from bench.retrieval import request
from bench.synthetic import CorpusSpec, SyntheticCorpus, draw_queries
from gateway.retrieval.embedded.retriever import EmbeddedRetriever

RESULTS = Path(__file__).resolve().parent / "results"


def reopen(directory: Path) -> None:
    """Child process: open an existing index cold; print open time and memory as JSON."""
    start = time.perf_counter()
    retriever = EmbeddedRetriever(directory)
    seconds = time.perf_counter() - start
    print(json.dumps({"open_s": seconds, "count": retriever.count(), **memory_mb()}))
    retriever.close()


def profile(retriever: EmbeddedRetriever, reqs: list) -> str:
    prof = cProfile.Profile()
    prof.enable()
    for r in reqs:
        retriever.search(r)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(12)
    return out.getvalue()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="50k chunks, 40 queries")
    p.add_argument("--chunks", type=int, default=1_000_000)
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--docs-per-batch", type=int, default=2_000)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--dir", type=Path, default=None)
    p.add_argument("--reopen", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.reopen:
        reopen(args.reopen)
        return
    if args.quick:
        args.chunks, args.queries = 50_000, 40
    console.print(machine())
    work = args.dir or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        run(args, work)
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    corpus = SyntheticCorpus(CorpusSpec(chunks=args.chunks))
    retriever = EmbeddedRetriever(work / "index")
    retriever.ensure_index("bench-random", corpus.spec.dimension)
    write_s, wall = 0.0, time.perf_counter()
    for n, items in enumerate(corpus.batches(args.docs_per_batch)):
        start = time.perf_counter()
        retriever.replace_documents(items)
        write_s += time.perf_counter() - start
        if n % 20 == 0:
            done = min((n + 1) * args.docs_per_batch * corpus.spec.chunks_per_doc, args.chunks)
            console.print(f"  {done:,} chunks, {write_s:.0f} s writing, {memory_mb()}")
    wall = time.perf_counter() - wall
    after_ingest = memory_mb()
    queries = draw_queries(corpus, args.queries)
    lat = Report(
        f"Scale: {args.chunks:,} chunks, engine-only hybrid latency, ms ({args.queries} queries, k=10)",
        [
            "user",
            "visible",
            "p50",
            "p95",
            "p50, BLAS 1 thread",
            "p95, BLAS 1 thread",
            "CPU ms p50 / p95, BLAS 1 thread",
            "BM25 p50",
            "vector p50",
            "target (p95)",
        ],
    )
    users = {u.name: u for u in corpus.users()}
    for name, target in (("u5", "≤ 50 ms"), ("u100", "≤ 100 ms")):
        acl = corpus.acl_for(users[name])
        visible = corpus.visible_mask(acl).mean()
        reqs = [request(q, acl) for q in queries]
        default = percentiles(latencies(retriever.search, reqs))
        cpu: list[float] = []
        with threadpool_limits(1, "blas"):
            single = percentiles(latencies(retriever.search, reqs, cpu=cpu))
            lexical = percentiles(latencies(retriever.lexical_search, reqs))[0]
            vector = percentiles(latencies(retriever.vector_search, reqs))[0]
        lat.add(
            name,
            f"{visible:.2%}",
            *default,
            *single,
            "{:.1f} / {:.1f}".format(*percentiles(cpu)),
            lexical,
            vector,
            target,
        )
        if args.profile and name == "u100":
            console.print(profile(retriever, reqs[:30]))
    searching = memory_mb()
    retriever.close()
    child = subprocess.run(
        [sys.executable, "-m", "bench.scale", "--reopen", str(work / "index")],
        capture_output=True,
        text=True,
        check=True,
    )
    cold = json.loads(child.stdout.strip().splitlines()[-1])
    size_mb = sum(f.stat().st_size for f in (work / "index").rglob("*") if f.is_file()) / 1e6
    res = Report(
        f"Scale: {args.chunks:,} chunks, ingest and memory (target RSS ≤ 3 GB)",
        ["what", "value"],
    )
    res.add("ingest, replace_documents only (s)", write_s)
    res.add("ingest, replace_documents only (chunks/s)", args.chunks / write_s)
    res.add("ingest incl. generating the chunks (s)", wall)
    res.add("RSS after ingest (MB)", after_ingest["VmRSS"])
    res.add("RSS after the searches (MB)", searching["VmRSS"])
    res.add("peak RSS, ingesting process (VmHWM, MB)", searching["VmHWM"])
    res.add("cold re-open of the index (s)", cold["open_s"])
    res.add("RSS after a cold re-open, fresh process (MB)", cold["VmRSS"])
    res.add("peak RSS during the cold re-open (VmHWM, MB)", cold["VmHWM"])
    res.add("index on disk (MB)", size_mb)
    lat.print()
    res.print()
    out = RESULTS / ("scale-quick.md" if args.chunks < 1_000_000 else "scale.md")
    out.write_text(machine() + "\n\n" + lat.markdown() + "\n" + res.markdown(), encoding="utf-8")
    console.print(f"markdown tables: {out}")


if __name__ == "__main__":
    main()
