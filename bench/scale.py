"""Scale: 1M chunks (random vectors), engine only: ingest time, hybrid latency at 5% and 100%
visibility, the vector side against the naive float32 scan (``bench.scale_scan``), resident memory
after ingest and of a fresh serving process (cold re-open, then the same searches).

``python -m bench.scale`` (1M chunks, expect ~10-15 min on 2 cores); ``--quick`` runs 50k chunks.
``--profile`` adds a cProfile of the 100%-visibility search.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from bench.common import Report, console, latencies, machine, memory_mb, percentiles
from bench.retrieval import request
from bench.scale_scan import compare
from bench.synthetic import CorpusSpec, SyntheticCorpus, draw_queries
from gateway.retrieval.embedded.quantized import kernel
from gateway.retrieval.embedded.retriever import EmbeddedRetriever

RESULTS = Path(__file__).resolve().parent / "results"


def rss() -> dict[str, float]:
    """This process's resident memory in MB: total, anonymous, file-backed (mapped index pages), peak."""
    keys = ("VmRSS", "RssAnon", "RssFile", "VmHWM")
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in keys:
            out[key] = int(value.split()[0]) / 1024
    return out


def reopen(directory: Path, chunks: int, queries: int) -> None:
    """Child process, the serving configuration: open an existing index cold, then run every
    user's hybrid searches; print open time and memory as JSON.

    Memory is the whole process: int8 codes, postings, the tantivy index pages the searches
    touched (file-backed, they count), SQLite's cache, and torch (the int8 kernel; a gateway loads
    it anyway for its embedder). ``baseline`` is measured before the index is opened: the
    interpreter, the imports and this benchmark's own queries.
    """
    corpus = SyntheticCorpus(CorpusSpec(chunks=chunks))
    drawn = draw_queries(corpus, queries)
    reqs = [request(q, corpus.acl_for(user)) for user in corpus.users() for q in drawn]
    kernel()
    gc.collect()
    baseline = rss()
    start = time.perf_counter()
    retriever = EmbeddedRetriever(directory)
    seconds = time.perf_counter() - start
    opened = rss()
    for r in reqs:
        retriever.search(r)
    searched = rss()
    out = {"open_s": seconds, "count": retriever.count(), "baseline": baseline, "opened": opened, "searched": searched}
    print(json.dumps(out))
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
    if args.quick:
        args.chunks, args.queries = 50_000, 40
    if args.reopen:
        reopen(args.reopen, args.chunks, args.queries)
        return
    console.print(machine())
    work = args.dir or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        run(args, work)
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


def memory_report(
    args: argparse.Namespace,
    work: Path,
    write_s: float,
    wall: float,
    after_ingest: dict[str, float],
    searching: dict[str, float],
) -> Report:
    """Ingest figures, and the memory of the ingesting and of a fresh serving process (``reopen``)."""
    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.scale",
            "--reopen",
            str(work / "index"),
            "--chunks",
            str(args.chunks),
            "--queries",
            str(args.queries),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    cold = json.loads(child.stdout.strip().splitlines()[-1])
    size_mb = sum(f.stat().st_size for f in (work / "index").rglob("*") if f.is_file()) / 1e6
    res = Report(
        f"Scale: {args.chunks:,} chunks, ingest and memory (target: serving RSS ≤ 1 GB at 1M)",
        ["what", "value"],
    )
    res.add("ingest, replace_documents only (s)", write_s)
    res.add("ingest, replace_documents only (chunks/s)", args.chunks / write_s)
    res.add("ingest incl. generating the chunks (s)", wall)
    res.add("RSS after ingest, ingesting process (MB)", after_ingest["VmRSS"])
    res.add("RSS after the searches, ingesting process (MB)", searching["VmRSS"])
    res.add("peak RSS, ingesting process before the float32 comparison (VmHWM, MB)", searching["VmHWM"])
    res.add("cold re-open of the index (s)", cold["open_s"])
    base, opened, searched = cold["baseline"], cold["opened"], cold["searched"]
    res.add("serving process: RSS before opening (imports incl. torch, the queries; MB)", base["VmRSS"])
    res.add("serving process: RSS after a cold re-open (MB)", opened["VmRSS"])
    res.add("serving process: RSS after every user's searches (MB)", searched["VmRSS"])
    res.add("  of which anonymous / file-backed (MB)", f"{searched['RssAnon']:,.0f} / {searched['RssFile']:,.0f}")
    res.add("  of which the index (after searches minus before opening, MB)", searched["VmRSS"] - base["VmRSS"])
    res.add("serving process: peak RSS, open + searches (VmHWM, MB)", searched["VmHWM"])
    res.add("index on disk (MB)", size_mb)
    return res


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
    visible = {}
    for name, target in (("u5", "≤ 50 ms"), ("u100", "≤ 100 ms")):
        acl = corpus.acl_for(users[name])
        mask = corpus.visible_mask(acl)
        visible[name] = np.flatnonzero(mask).astype(np.int64)
        reqs = [request(q, acl) for q in queries]
        default = percentiles(latencies(retriever.search, reqs))
        cpu: list[float] = []
        with threadpool_limits(1, "blas"):
            single = percentiles(latencies(retriever.search, reqs, cpu=cpu))
            lexical = percentiles(latencies(retriever.lexical_search, reqs))[0]
            vector = percentiles(latencies(retriever.vector_search, reqs))[0]
        lat.add(
            name,
            f"{mask.mean():.2%}",
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
    scan = compare(retriever, corpus, queries, visible)
    retriever.close()
    res = memory_report(args, work, write_s, wall, after_ingest, searching)
    lat.print()
    scan.print()
    res.print()
    out = RESULTS / ("scale-quick.md" if args.chunks < 1_000_000 else "scale.md")
    tables = [lat.markdown(), scan.markdown(), res.markdown()]
    out.write_text(machine() + "\n\n" + "\n".join(tables), encoding="utf-8")
    console.print(f"markdown tables: {out}")


if __name__ == "__main__":
    main()
