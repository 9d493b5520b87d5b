"""``/v1/search`` and ``/v1/ask`` over real HTTP: uvicorn in a subprocess on 127.0.0.1, real tokens
from the development issuer, the real transformer embedding each query, the SQLite audit write.

The index (synthetic chunks, random vectors recorded under the real model's id and dimension, so
``ensure_index`` accepts it) and its document registry are written as ingest writes them
(``bench.indexed``), so the re-check passes and asks really answer; an answered ask without
citations stops the run. The policy grants come from ``gateway policy load``. Questions are
distinct windows of passages u5 may read (the query LRU must not make the figures: its hit rate is
a column).

Each endpoint is measured at every ``--concurrency`` level (default 1, 8, 32) in one run, first
with the defaults (query micro-batcher, query LRU, audit group commit, PII spaCy batcher:
``batched``), then with all four off (``naive``), each on a fresh server; ratios are against the
same mode's first level. Per phase the server's own CPU time (``/proc``) gives CPU ms per request
and cores busy: throughput can never exceed the cores it gets divided by its CPU per request.

``--workers 1,2`` runs every mode once per server process count (``gateway serve --workers N``,
the embedded index shared by the workers) on the same index and questions, so one run reports
them side by side; "x 1-worker seq" compares each phase with the one-worker sequential phase of
its mode. Server CPU is the whole process tree's (supervisor, workers, their parse workers); with
several workers ``/metrics`` answers for one of them, so the LRU and batch columns are left out.

``python -m bench.http`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import create_engine, text

from bench.common import Report, console, machine, percentiles, throwaway_postgres
from bench.indexed import visible_questions, write_indexed
from bench.synthetic import CorpusSpec, SyntheticCorpus
from gateway.auth.dev import mint_dev_token
from gateway.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"
BIN = Path(sys.executable).parent


def environment(data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "GATEWAY_ENVIRONMENT": "development",
        "GATEWAY_DEV_ISSUER": "true",
        "GATEWAY_DATA_DIR": str(data_dir),
        "GATEWAY_OIDC_TENANT_CLAIM": "tenant",
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_LIMITS_ENABLED": "false",  # one subject sends far more than 120/minute here
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }


def database_url(data_dir: Path) -> str:
    """The server's database: ``GATEWAY_DATABASE_URL`` when set (the load test's PostgreSQL), else SQLite."""
    return os.environ.get("GATEWAY_DATABASE_URL") or f"sqlite:///{(data_dir / 'gateway.sqlite3').resolve()}"


def prepare(corpus: SyntheticCorpus, data_dir: Path) -> None:
    """Database migrated; index and document registry written as ingest writes them
    (``bench.indexed``); the corpus's collection grants loaded as policy."""
    from gateway.retrieval.embed import TransformersEmbedder  # noqa: PLC0415 - heavy; model id only

    embedder = TransformersEmbedder()
    model_id, dimension = embedder.model_id, embedder.dimension
    del embedder
    env = environment(data_dir)
    subprocess.run([str(BIN / "gateway"), "migrate"], env=env, check=True, capture_output=True)
    write_indexed(corpus, data_dir / "index", database_url(data_dir), model_id, dimension)
    policy = data_dir / "bench-policy.csv"
    corpus.policy_csv(policy)
    subprocess.run(
        [str(BIN / "gateway"), "policy", "load", "--file", str(policy)], env=env, check=True, capture_output=True
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, port: int, extra: dict[str, str], processes: int = 1) -> subprocess.Popen[bytes]:
    """``gateway serve --workers processes``; returns once every worker has finished starting."""
    cmd = [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port), "--workers", str(processes)]
    log = (data_dir / "server.log").open("wb")
    proc = subprocess.Popen(cmd, env={**environment(data_dir), **extra}, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {(data_dir / 'server.log').read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                settle(proc.pid, deadline)
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("server did not become ready in 300 s")


def settle(pid: int, deadline: float) -> None:
    """Wait until the server's process tree is idle: /readyz answers as soon as one worker is up
    (a worker accepts only once started), the others may still be loading the model and index."""
    while time.monotonic() < deadline:
        cpu = process_cpu(pid)
        time.sleep(1.0)
        if process_cpu(pid) - cpu < 0.2:
            return


@dataclass
class Phase:
    """One measured phase: latencies of the answered requests, throughput, failures, and what the
    answers held (asks answered with citations) and what the query embedder did."""

    latencies_ms: list[float]
    rate: float
    errors: int
    answered: int = 0
    """``/v1/ask``: responses with ``answered: true``; ``/v1/search``: responses with hits."""
    uncited: int = 0
    """``/v1/ask`` responses with ``answered: true`` and no citation (must be 0)."""
    embeddings: dict[str, float] | None = None
    """Change of ``gateway_query_embeddings`` over the phase: LRU hit / miss, batcher forward passes."""
    cpu_seconds: float = 0.0
    """CPU time (user + system) the server process used during the measured requests."""
    client_cpu_seconds: float = 0.0
    """CPU time this load generator used meanwhile: it shares the machine's cores with the server."""
    wall_seconds: float = 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_seconds * 1000 / max(1, len(self.latencies_ms) + self.errors)

    @property
    def client_cpu_ms_per_request(self) -> float:
        return self.client_cpu_seconds * 1000 / max(1, len(self.latencies_ms) + self.errors)

    def ceiling(self, sequential_rate: float) -> float:
        """The most this machine could give, as a multiple of ``sequential_rate``: every core busy with
        this phase's measured CPU per request (server + load generator). A phase whose ``x seq req/s``
        reaches it is bound by the cores; no server change short of less CPU per request lifts it."""
        per_request = (self.cpu_seconds + self.client_cpu_seconds) / max(1, len(self.latencies_ms) + self.errors)
        cores = os.cpu_count() or 1
        return cores / per_request / sequential_rate if per_request and sequential_rate else float("nan")

    @property
    def cores_busy(self) -> float:
        """Server CPU seconds per wall second: 2.0 would be both cores of this machine."""
        return self.cpu_seconds / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def lru_hit_rate(self) -> float:
        e = self.embeddings or {}
        return e.get("hit", 0.0) / max(1.0, e.get("hit", 0.0) + e.get("miss", 0.0))

    @property
    def per_batch(self) -> float:
        """Queries per forward pass (LRU misses / batches); 0 when the batcher is off."""
        e = self.embeddings or {}
        return e.get("miss", 0.0) / e["batch"] if e.get("batch") else 0.0


async def query_embeddings(client: httpx.AsyncClient) -> dict[str, float]:
    """The server's ``gateway_query_embeddings`` gauges, by ``result``."""
    out: dict[str, float] = {}
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith("gateway_query_embeddings{"):
            label, value = line.split("} ")
            out[label.split('"')[1]] = float(value)
    return out


def process_cpu(pid: int) -> float:
    """User + system CPU seconds so far of process ``pid`` and every live descendant (Linux
    ``/proc``): uvicorn's supervisor, its workers and their parse workers."""
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        child = int(stat.parent.name)
        parents[child] = int(fields[1])
        used[child] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(used.get(p, 0.0) for p in tree)


def tally(phase: Phase, body: dict[str, object]) -> None:
    """Count an answered ask (and one without citations) or a search with hits."""
    if "answered" in body:
        if body["answered"]:
            phase.answered += 1
            phase.uncited += not body.get("citations")
    elif body.get("hits"):
        phase.answered += 1


async def _phase(
    base: str, path: str, headers: dict[str, str], bodies: list[dict[str, object]], warmups: list[dict[str, object]],
    workers: int, pid: int,
) -> Phase:  # fmt: skip
    """``bodies`` spread over ``workers`` keep-alive connections that start together after warming up."""
    got = Phase([], 0.0, 0)
    queue = list(reversed(bodies))
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=workers)) as client:

        async def warm(i: int) -> None:
            (await client.post(path, json=warmups[i % len(warmups)], headers=headers)).raise_for_status()

        await asyncio.gather(*(warm(i) for i in range(workers)))
        before = await query_embeddings(client)
        cpu = process_cpu(pid)

        async def worker() -> None:
            while queue:
                body = queue.pop()
                start = time.perf_counter()
                response = await client.post(path, json=body, headers=headers)
                if response.status_code == 200:
                    got.latencies_ms.append((time.perf_counter() - start) * 1000)
                    tally(got, response.json())
                else:
                    got.errors += 1

        start, own = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(workers)))
        got.wall_seconds = time.perf_counter() - start
        got.client_cpu_seconds = time.process_time() - own
        got.cpu_seconds = process_cpu(pid) - cpu
        got.rate = len(bodies) / got.wall_seconds
        after = await query_embeddings(client)
    got.embeddings = {k: after[k] - before.get(k, 0.0) for k in after}
    return got


def phase(
    base: str, path: str, headers: dict[str, str], bodies: list[dict[str, object]], warmups: list[dict[str, object]],
    workers: int, pid: int,
) -> Phase:  # fmt: skip
    got = asyncio.run(_phase(base, path, headers, bodies, warmups, workers, pid))
    if got.uncited:  # an answer the caller cannot trace to a passage would make the figures meaningless
        raise AssertionError(f"{path}: {got.uncited} answered responses without citations")
    return got


COLUMNS = [
    "request", "mode", "server workers", "concurrent", "p50 ms", "p95 ms", "req/s", "errors", "x seq req/s",
    "p95 / seq p95", "answered", "LRU hit rate", "queries / forward pass", "server CPU ms / req",
    "server cores busy", "x 1-worker seq req/s", "client CPU ms / req", "ceiling x seq req/s",
]  # fmt: skip
"""``ceiling x seq req/s``: :meth:`Phase.ceiling` against the same server's sequential phase."""

MODES = {
    "batched": {},
    "naive": {
        "GATEWAY_EMBEDDING_QUERY_BATCHING": "false",
        "GATEWAY_EMBEDDING_QUERY_CACHE_SIZE": "0",
        "GATEWAY_AUDIT_GROUP_COMMIT_MAX": "1",
        "GATEWAY_PII_BATCHING": "false",
    },
}
"""``batched``: the defaults (query micro-batcher, query LRU, audit group commit, PII spaCy batcher);
``naive``: all four off."""


def stage_medians(data_dir: Path, after: int) -> dict[str, dict[str, float]]:
    """Median per-stage server latencies from the audit rows after sequence ``after``, per kind."""
    stages: dict[str, dict[str, list[float]]] = {}
    query = "SELECT kind, latencies_ms FROM audit_log WHERE kind IN ('search', 'ask') AND sequence > :after"
    engine = create_engine(database_url(data_dir))
    with engine.connect() as conn:
        for kind, raw in conn.execute(text(query), {"after": after}):
            values = raw if isinstance(raw, dict) else json.loads(raw)  # JSON column: dict on PostgreSQL
            for name, ms in values.items():
                stages.setdefault(kind, {}).setdefault(name, []).append(float(ms))
    engine.dispose()
    return {k: {n: float(np.median(v)) for n, v in s.items()} for k, s in stages.items()}


def audit_head(data_dir: Path) -> int:
    engine = create_engine(database_url(data_dir))
    with engine.connect() as conn:
        head = conn.execute(text("SELECT coalesce(max(sequence), 0) FROM audit_log")).scalar_one()
    engine.dispose()
    return int(head)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="10k chunks, 40 requests per phase")
    p.add_argument("--chunks", type=int, default=100_000)
    p.add_argument("--requests", type=int, default=160, help="requests per endpoint, mode and concurrency")
    p.add_argument("--concurrency", default="1,8,32", help="comma-separated; the first is the baseline")
    p.add_argument("--modes", default="batched,naive")
    p.add_argument("--workers", default="1", help="comma-separated server process counts, e.g. 1,2")
    p.add_argument("--dir", type=Path, default=None)
    p.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite",
                   help="the servers' database (audit chain, registry): SQLite in the data dir, or a throwaway "
                        "database in the local PostgreSQL")  # fmt: skip
    args = p.parse_args()
    if args.quick:
        args.chunks, args.requests = 10_000, 40
    if args.database == "postgres":
        with throwaway_postgres("bench_http"):
            run(args)
    else:
        run(args)


def run(args: argparse.Namespace) -> None:  # noqa: PLR0915 - a straight-line script reads best here
    levels = [int(x) for x in args.concurrency.split(",")]
    modes = args.modes.split(",")
    process_counts = [int(x) for x in args.workers.split(",")]
    console.print(machine())
    data_dir = args.dir or Path(tempfile.mkdtemp(prefix="bench-http-"))
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    corpus = SyntheticCorpus(CorpusSpec(chunks=args.chunks))
    proc = None
    try:
        prepare(corpus, data_dir)
        settings = Settings(
            environment="development", dev_issuer=True, data_dir=data_dir, oidc={"tenant_claim": "tenant"}
        )
        user = next(u for u in corpus.users() if u.name == "u5")
        jwt = mint_dev_token(settings, user.name, list(user.groups), tenant=corpus.spec.tenant, ttl_seconds=7200)
        headers = {"Authorization": f"Bearer {jwt}"}
        endpoints = [("POST /v1/search u5", "/v1/search", "query"), ("POST /v1/ask u5, audited", "/v1/ask", "question")]
        # Every phase gets questions no earlier phase asked (the LRU must not turn a phase into cache
        # hits); both modes get the same ones. Warm-up questions are separate again.
        n_phases = len(endpoints) * len(levels)
        texts = visible_questions(corpus, user, args.requests * n_phases + 64)
        warm_texts, texts = texts[:64], texts[64:]
        report = Report(
            f"Throughput under concurrency, client-side over loopback (gateway serve --workers "
            f"{args.workers}; {args.database}; {corpus.spec.chunks:,} "
            "chunks; real embedder; fresh questions per phase)",
            COLUMNS,
        )
        breakdowns: dict[str, dict[str, dict[str, float]]] = {}
        one_worker: dict[tuple[str, str], Phase] = {}
        for processes in process_counts:
            for mode in modes:
                after = audit_head(data_dir)
                port = free_port()
                proc = start_server(data_dir, port, MODES[mode], processes)
                base = f"http://127.0.0.1:{port}"
                for e, (name, path, key) in enumerate(endpoints):
                    baseline: Phase | None = None
                    for lv, workers in enumerate(levels):
                        offset = (e * len(levels) + lv) * args.requests
                        bodies: list[dict[str, object]] = [{key: t} for t in texts[offset : offset + args.requests]]
                        warm: list[dict[str, object]] = [{key: t} for t in warm_texts]
                        got = phase(base, path, headers, bodies, warm, workers, proc.pid)
                        baseline = baseline or got
                        if processes == 1 and lv == 0:
                            one_worker[(mode, path)] = got
                        single = one_worker.get((mode, path))
                        p50, p95 = percentiles(got.latencies_ms or [0.0])
                        _, base95 = percentiles(baseline.latencies_ms or [0.0])
                        # /metrics answers for one worker only: its query-embedding counters are not the server's
                        per_worker = processes == 1
                        report.add(
                            name, mode, processes, workers, p50, p95, got.rate, got.errors, got.rate / baseline.rate,
                            p95 / base95, f"{got.answered}/{len(bodies)}",
                            f"{got.lru_hit_rate:.0%}" if per_worker else "—", got.per_batch if per_worker else "—",
                            got.cpu_ms_per_request, got.cores_busy, got.rate / single.rate if single else "—",
                            got.client_cpu_ms_per_request, got.ceiling(baseline.rate),
                        )  # fmt: skip
                proc.terminate()
                proc.wait(timeout=60)
                proc = None
                breakdowns[f"{mode}, {processes} worker(s)"] = stage_medians(data_dir, after)
        report.print()
        stage_names = sorted({s for b in breakdowns.values() for v in b.values() for s in v})
        breakdown = Report(
            "Server-side stage medians from the audit rows, all phases (ms)", ["mode, kind", *stage_names]
        )
        for mode, stages in breakdowns.items():
            for kind, values in sorted(stages.items()):
                breakdown.add(f"{mode}, {kind}", *(values.get(s, "—") for s in stage_names))
        breakdown.print()
        out = RESULTS / f"http{'-quick' if args.quick else ''}{'-postgres' if args.database == 'postgres' else ''}.md"
        out.write_text(machine() + "\n\n" + report.markdown() + "\n" + breakdown.markdown(), encoding="utf-8")
        console.print(f"markdown tables: {out}")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        if args.dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
