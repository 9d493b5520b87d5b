"""Scale: 1M chunks (random vectors), engine only: ingest time, hybrid latency at 5% and 100%
visibility, the vector side against the naive float32 scan (``bench.scale_scan``), resident memory
after ingest and of a fresh serving process (cold re-open, then the same searches).

``python -m bench.scale`` (1M chunks, expect ~10-15 min on 2 cores); ``--quick`` runs 50k chunks.
``--profile`` adds a cProfile of the 100%-visibility search. ``--reopen-only DIR`` measures only the
serving process's memory of an index built before (``--dir DIR --keep``).

The serving process imports what ``gateway serve`` imports (``gateway.app``) and gets its requests
pickled by the parent: it never builds the synthetic corpus, which a gateway does not hold.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import json
import os
import pickle
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from bench.common import Report, console, fmt, latencies, machine, memory_mb, percentiles
from bench.retrieval import request
from bench.scale_scan import compare
from bench.synthetic import CorpusSpec, SyntheticCorpus, draw_queries
from gateway.retrieval.embedded.quantized import kernel, release_free_memory
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


def mapped_mb() -> dict[str, float]:
    """Resident MB per kind of mapping (/proc/self/smaps): the C heap, other anonymous memory
    (torch's and numpy's large blocks, thread heaps), shared libraries, the BM25 (tantivy) files,
    the SQLite store file."""
    out: dict[str, float] = {}
    kind = "other"
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and not head[0].endswith(":"):
            path = head[5] if len(head) > 5 else ""
            kind = (
                "heap"
                if path == "[heap]"
                else "bm25 files"
                if "/bm25/" in path
                else "sqlite file"
                if "sqlite3" in path
                else "libraries"
                if path.startswith("/")
                else "anonymous (other)"
                if not path
                else "other"
            )
        elif head and head[0] == "Rss:":
            out[kind] = out.get(kind, 0.0) + int(head[1]) / 1024
    return out


def malloc_free_mb() -> float | None:
    """Bytes glibc's malloc holds free (``mallinfo2().fordblks``), MB; None off glibc."""
    import ctypes  # noqa: PLC0415

    class Info(ctypes.Structure):
        _fields_ = [
            (n, ctypes.c_size_t)
            for n in [
                "arena",
                "ordblks",
                "smblks",
                "hblks",
                "hblkhd",
                "usmblks",
                "fsmblks",
                "uordblks",
                "fordblks",
                "keepcost",
            ]
        ]

    try:
        call = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return None
    call.restype = Info
    return float(call().fordblks) / 2**20


def arrays_mb(retriever: EmbeddedRetriever) -> dict[str, float]:
    """The in-memory index's numpy arrays (the published snapshot), MB."""
    snap = retriever._snapshot.vectors
    return {
        "int8 codes": sum(b.nbytes for b in snap.blocks) / 2**20,
        "scales (float32)": sum(s.nbytes for s in snap.scales) / 2**20,
        "row ids (int64)": snap.rows.nbytes / 2**20,
        f"ACL postings ({snap.postings[next(iter(snap.postings))].dtype if snap.postings else '-'}, "
        f"{len(snap.postings)} lists)": sum(p.nbytes for p in snap.postings.values()) / 2**20,
        "collection codes (int32)": snap.collections.nbytes / 2**20,
        "live mask": snap.live.nbytes / 2**20,
    }


def state() -> dict[str, object]:
    return {"rss": rss(), "mapped": mapped_mb(), "malloc_free": malloc_free_mb()}


def reopen(directory: Path, requests: Path) -> None:
    """Child process, the serving configuration: open an existing index cold, then run every
    user's hybrid searches; print open time and memory as JSON.

    Memory is the whole process: int8 codes, postings, the tantivy index pages the searches
    touched (file-backed, they count), SQLite's cache, and torch (the int8 kernel; a gateway loads
    it anyway for its embedder). ``baseline`` is measured before the index is opened: the
    interpreter and the imports of ``gateway serve`` (``gateway.app``), and the pickled requests.
    """
    import gateway.app  # noqa: F401, PLC0415 - what a serving process has imported

    payload = pickle.loads(requests.read_bytes())  # noqa: S301 - written by the parent process
    reqs, users = payload["requests"], payload["users"]
    kernel()
    gc.collect()
    baseline = state()
    start = time.perf_counter()
    retriever = EmbeddedRetriever(directory)
    seconds = time.perf_counter() - start
    opened = state()
    by_user: dict[str, list[float]] = {}
    with threadpool_limits(1, "blas"):  # what `gateway serve` runs with
        for user, r in zip(users, reqs, strict=True):
            by_user.setdefault(user, []).extend(latencies(retriever.search, [r], warmup=0))
    searched = state()
    release_free_memory()  # diagnostic only: how much of the growth was free memory malloc held
    trimmed = state()
    out = {
        "open_s": seconds,
        "count": retriever.count(),
        "baseline": baseline,
        "opened": opened,
        "searched": searched,
        "trimmed": trimmed,
        "arrays": arrays_mb(retriever),
        "search_ms": {user: percentiles(ms) for user, ms in by_user.items()},
    }
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
    p.add_argument("--keep", action="store_true", help="keep the index in --dir afterwards")
    p.add_argument("--reuse", action="store_true", help="search the index kept in --dir (no ingest figures)")
    p.add_argument(
        "--memory-limit-mb", type=int, default=1000,
        help="also run the serving process inside a hard memory limit of this many MB (cgroup; root); 0: skip",
    )  # fmt: skip
    p.add_argument("--reopen-only", type=Path, default=None, help="only the serving memory of the index in DIR")
    p.add_argument("--reopen", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--requests", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.quick:
        args.chunks, args.queries = 50_000, 40
    if args.reopen:
        reopen(args.reopen, args.requests)
        return
    console.print(machine())
    if args.reopen_only:
        report = memory_report(args, args.reopen_only, None, None, None, None)
        report.print()
        breakdown_of(report).print()
        return
    work = args.dir or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    if not (args.reuse and (work / "index").exists()):
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
    try:
        run(args, work)
    finally:
        if args.dir is None or not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def serving(args: argparse.Namespace, index: Path, limit_mb: int | None = None) -> dict[str, object]:
    """Run ``reopen`` in a fresh process on the index in ``index`` (its requests pickled here); with
    ``limit_mb``, inside a hard memory limit (:class:`MemoryLimit`), and say whether it finished."""
    corpus = SyntheticCorpus(CorpusSpec(chunks=args.chunks))
    drawn = draw_queries(corpus, args.queries)
    pairs = [(user.name, request(q, corpus.acl_for(user))) for user in corpus.users() for q in drawn]
    payload = {"users": [u for u, _ in pairs], "requests": [r for _, r in pairs]}
    with tempfile.NamedTemporaryFile(suffix=".pickle") as f, MemoryLimit(limit_mb) as limit:
        f.write(pickle.dumps(payload))
        f.flush()
        child = subprocess.run(
            [sys.executable, "-m", "bench.scale", "--reopen", str(index), "--requests", f.name],
            capture_output=True,
            text=True,
            check=limit_mb is None,
            preexec_fn=limit.enter if limit_mb is not None else None,
        )
        charged = limit.report()
    if child.returncode != 0:  # killed by the limit (the kernel's OOM killer) or failed under it
        return {"completed": False, "returncode": child.returncode, "limit": charged, "stderr": child.stderr[-400:]}
    cold: dict[str, object] = json.loads(child.stdout.strip().splitlines()[-1])
    cold["completed"], cold["limit"] = True, charged
    return cold


class MemoryLimit:
    """A hard memory limit for one child process: a cgroup of its own (v1 ``memory`` controller,
    or v2 where ``memory`` is enabled), ``limit_in_bytes`` / ``memory.max`` set, removed afterwards.

    The kernel charges the group for everything the process makes resident: its anonymous memory
    and the file pages it maps or reads (the index's tantivy and SQLite pages). Clean file pages are
    reclaimed when the group nears its limit; anonymous memory (no swap here) cannot be, so a
    process whose own memory exceeds the limit is killed by the OOM killer. Finishing every search
    under the limit is the proof that it serves in that much memory. Needs root; without a
    writable cgroup hierarchy ``available`` is False and nothing is limited.
    """

    V1 = Path("/sys/fs/cgroup/memory")
    V2 = Path("/sys/fs/cgroup")

    def __init__(self, limit_mb: int | None) -> None:
        self.limit_mb = limit_mb
        self.path: Path | None = None
        self.v2 = False

    @property
    def available(self) -> bool:
        return self.path is not None

    def __enter__(self) -> MemoryLimit:
        if not self.limit_mb:
            return self
        name = f"bench-scale-{time.monotonic_ns()}"
        limit = str(self.limit_mb * 2**20)
        try:
            if (self.V1 / "memory.limit_in_bytes").exists():
                self.path = self.V1 / name
                self.path.mkdir()
                (self.path / "memory.limit_in_bytes").write_text(limit)
            elif "memory" in (self.V2 / "cgroup.subtree_control").read_text().split():
                self.path, self.v2 = self.V2 / name, True
                self.path.mkdir()
                (self.path / "memory.max").write_text(limit)
                (self.path / "memory.swap.max").write_text("0")
        except OSError:
            self.__exit__()
        return self

    def enter(self) -> None:
        """In the child, before ``exec``: join the group."""
        if self.path is not None:
            (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def report(self) -> dict[str, object]:
        if self.path is None:
            return {"limited": False}
        if self.v2:
            events = dict(line.split() for line in (self.path / "memory.events").read_text().splitlines())
            peak = self.path / "memory.peak"
            return {
                "limited": True, "limit_mb": self.limit_mb, "oom_kills": int(events.get("oom_kill", 0)),
                "peak_mb": int(peak.read_text()) / 2**20 if peak.exists() else None,
                "hit_limit": int(events.get("max", 0)),
            }  # fmt: skip
        return {
            "limited": True, "limit_mb": self.limit_mb,
            "peak_mb": int((self.path / "memory.max_usage_in_bytes").read_text()) / 2**20,
            "hit_limit": int((self.path / "memory.failcnt").read_text()),
            "oom_kills": int(dict(line.split() for line in (self.path / "memory.oom_control").read_text().splitlines())
                             .get("oom_kill", 0)),
        }  # fmt: skip

    def __exit__(self, *exc: object) -> None:
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.rmdir()
            self.path = None


def memory_report(
    args: argparse.Namespace,
    index: Path,
    write_s: float | None,
    wall: float | None,
    after_ingest: dict[str, float] | None,
    searching: dict[str, float] | None,
) -> Report:
    """Ingest figures, and the memory of the ingesting and of a fresh serving process (``reopen``)."""
    cold = serving(args, index)
    size_mb = sum(f.stat().st_size for f in index.rglob("*") if f.is_file()) / 1e6
    res = Report(
        f"Scale: {args.chunks:,} chunks, ingest and memory (target: serving RSS ≤ 1 GB at 1M)",
        ["what", "value"],
    )
    res.cold = cold  # type: ignore[attr-defined]
    if write_s is not None and wall is not None and after_ingest is not None and searching is not None:
        res.add("ingest, replace_documents only (s)", write_s)
        res.add("ingest, replace_documents only (chunks/s)", args.chunks / write_s)
        res.add("ingest incl. generating the chunks (s)", wall)
        res.add("RSS after ingest, ingesting process (MB)", after_ingest["VmRSS"])
        res.add("RSS after the searches, ingesting process (MB)", searching["VmRSS"])
        res.add("peak RSS, ingesting process before the float32 comparison (VmHWM, MB)", searching["VmHWM"])
    res.add("cold re-open of the index (s)", cold["open_s"])
    base, opened, searched = (cold[k]["rss"] for k in ("baseline", "opened", "searched"))  # type: ignore[index]
    res.add("serving process: RSS before opening (gateway.app imports incl. torch, the requests; MB)", base["VmRSS"])
    res.add("serving process: RSS after a cold re-open (MB)", opened["VmRSS"])
    res.add("serving process: RSS after every user's searches (MB)", searched["VmRSS"])
    res.add("  of which anonymous / file-backed (MB)", f"{searched['RssAnon']:,.0f} / {searched['RssFile']:,.0f}")
    res.add("  of which the index (after searches minus before opening, MB)", searched["VmRSS"] - base["VmRSS"])
    res.add("serving process: peak RSS, open + searches (VmHWM, MB)", searched["VmHWM"])
    for user, (p50, p95) in cold["search_ms"].items():  # type: ignore[attr-defined]
        res.add(f"serving process: hybrid p50 / p95, {user}, 1 BLAS thread (ms)", f"{p50:.1f} / {p95:.1f}")
    res.add("index on disk (MB)", size_mb)
    if args.memory_limit_mb:
        limited = serving(args, index, args.memory_limit_mb)
        res.limited = limited  # type: ignore[attr-defined]
        charged: dict[str, object] = limited["limit"]  # type: ignore[assignment]
        head = f"same serving process under a hard {args.memory_limit_mb:,} MB memory limit (cgroup)"
        if not charged.get("limited"):
            res.add(head, "not run: no writable cgroup memory controller (needs root)")
            return res
        res.add(f"{head}: open + every search finished", "yes" if limited["completed"] else "NO (killed)")
        res.add("  peak charged to the group: anonymous + file pages (MB)", charged["peak_mb"])
        res.add(
            "  times the group hit its limit (pages reclaimed) / OOM kills",
            f"{charged['hit_limit']} / {charged['oom_kills']}",
        )
        if limited["completed"]:
            after = limited["searched"]["rss"]  # type: ignore[index]
            split = f"{after['VmRSS']:,.0f} / {after['RssAnon']:,.0f} / {after['RssFile']:,.0f}"
            res.add("  RSS after the searches: total / anonymous / file-backed (MB)", split)
            for user, (p50, p95) in limited["search_ms"].items():  # type: ignore[attr-defined]
                res.add(f"  hybrid p50 / p95, {user}, under the limit (ms)", f"{p50:.1f} / {p95:.1f}")
    return res


def breakdown_of(res: Report) -> Report:
    """Where the serving process's resident MB are: by mapping kind at each stage, and the arrays."""
    cold = res.cold  # type: ignore[attr-defined]
    out = Report(
        "Serving process RSS breakdown, MB (smaps by mapping kind; arrays by nbytes)",
        ["what", "before opening", "after the cold open", "after the searches", "then malloc_trim (diagnostic)"],
    )
    stages = [cold["baseline"], cold["opened"], cold["searched"], cold["trimmed"]]
    kinds = sorted({k for st in stages for k in st["mapped"]}, key=lambda k: -stages[-1]["mapped"].get(k, 0.0))
    for kind in kinds:
        out.add(kind, *(st["mapped"].get(kind, 0.0) for st in stages))
    out.add("total (VmRSS)", *(st["rss"]["VmRSS"] for st in stages))
    out.add(
        "malloc: free bytes held (mallinfo2 fordblks; resident or not)",
        *(fmt(st["malloc_free"]) if st["malloc_free"] is not None else "-" for st in stages),
    )
    for name, mb in cold["arrays"].items():
        out.add(f"  array: {name}", "", mb, "", "")
    return out


def sharded(retriever: EmbeddedRetriever, corpus: SyntheticCorpus, queries: list) -> Report:
    """Hybrid and vector-side latency with the int8 scan as one shard vs split in two, BLAS and
    torch on one thread a shard (the gateway's setting), same queries, the two settings alternated
    query by query so that load drifts hit both alike."""
    base = retriever._snapshot
    settings = {"1 shard": replace(base, vectors=replace(base.vectors, shards=1)), "2 shards": base}
    report = Report(
        f"Sharded int8 scan, 1 thread a shard, {len(queries)} queries: hybrid and vector side, ms",
        ["user", "scan", "hybrid p50", "hybrid p95", "vector p50", "vector p95", "CPU ms p50 / p95 (hybrid)"],
    )
    users = {u.name: u for u in corpus.users()}
    for name in ("u5", "u100"):
        reqs = [request(q, corpus.acl_for(users[name])) for q in queries]
        got: dict[str, dict[str, list[float]]] = {k: {"hybrid": [], "vector": [], "cpu": []} for k in settings}
        with threadpool_limits(1, "blas"):
            for snap in settings.values():  # warm-up
                retriever._snapshot = snap
                for r in reqs[:5]:
                    retriever.search(r)
            for r in reqs:
                for key, snap in settings.items():
                    retriever._snapshot = snap
                    got[key]["hybrid"] += latencies(retriever.search, [r], warmup=0, cpu=got[key]["cpu"])
                    got[key]["vector"] += latencies(retriever.vector_search, [r], warmup=0)
        retriever._snapshot = base
        for key, m in got.items():
            report.add(
                name,
                key,
                *percentiles(m["hybrid"]),
                *percentiles(m["vector"]),
                "{:.1f} / {:.1f}".format(*percentiles(m["cpu"])),
            )
    return report


def run(args: argparse.Namespace, work: Path) -> None:
    corpus = SyntheticCorpus(CorpusSpec(chunks=args.chunks))
    reuse = args.reuse and (work / "index").exists()
    retriever = EmbeddedRetriever(work / "index")
    retriever.ensure_index("bench-random", corpus.spec.dimension)
    write_s, wall = 0.0, time.perf_counter()
    for n, items in enumerate([] if reuse else corpus.batches(args.docs_per_batch)):
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
    shard = sharded(retriever, corpus, queries)
    scan = compare(retriever, corpus, queries, visible)
    retriever.close()
    if reuse:
        console.print(f"re-used the index in {work}: no ingest figures")
    res = memory_report(args, work / "index", *((None,) * 4 if reuse else (write_s, wall, after_ingest, searching)))
    breakdown = breakdown_of(res)
    lat.print()
    shard.print()
    scan.print()
    res.print()
    breakdown.print()
    out = RESULTS / ("scale-quick.md" if args.chunks < 1_000_000 else "scale.md")
    tables = [lat.markdown(), shard.markdown(), scan.markdown(), res.markdown(), breakdown.markdown()]
    out.write_text(machine() + "\n\n" + "\n".join(tables), encoding="utf-8")
    console.print(f"markdown tables: {out}")


if __name__ == "__main__":
    main()
