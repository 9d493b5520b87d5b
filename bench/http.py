"""``/v1/search`` and ``/v1/ask`` over real HTTP: uvicorn in a subprocess on 127.0.0.1, real tokens
from the development issuer, the real transformer embedding each query, the SQLite audit write.

The index (100k synthetic chunks, random vectors recorded under the real model's id and dimension,
so ``ensure_index`` accepts it) is written directly with ``EmbeddedRetriever``; the policy grants
come from ``gateway policy load``. ``/healthz`` in the same run is the HTTP floor.

``python -m bench.http`` (``--quick`` for a < 60 s smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from bench.common import Report, console, machine, percentiles
from bench.synthetic import CorpusSpec, SyntheticCorpus, User, draw_queries
from gateway.auth.dev import mint_dev_token
from gateway.retrieval.embedded.retriever import EmbeddedRetriever
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


def prepare(corpus: SyntheticCorpus, data_dir: Path) -> None:
    """Index written directly; database migrated; the corpus's collection grants loaded as policy."""
    from gateway.retrieval.embed import TransformersEmbedder  # noqa: PLC0415 - heavy; model id only

    embedder = TransformersEmbedder()
    model_id, dimension = embedder.model_id, embedder.dimension
    del embedder
    retriever = EmbeddedRetriever(data_dir / "index")
    retriever.ensure_index(model_id, dimension)
    start = time.perf_counter()
    for items in corpus.batches(1_000):
        retriever.replace_documents(items)
    retriever.close()
    console.print(f"index: {corpus.spec.chunks:,} chunks written in {time.perf_counter() - start:.0f} s")
    policy = data_dir / "bench-policy.csv"
    corpus.policy_csv(policy)
    env = environment(data_dir)
    subprocess.run([str(BIN / "gateway"), "migrate"], env=env, check=True, capture_output=True)
    subprocess.run(
        [str(BIN / "gateway"), "policy", "load", "--file", str(policy)], env=env, check=True, capture_output=True
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "uvicorn", "gateway.app:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    log = (data_dir / "server.log").open("wb")
    proc = subprocess.Popen(cmd, env=environment(data_dir), stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {(data_dir / 'server.log').read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("server did not become ready in 180 s")


def sequential(call: Callable[[httpx.Client, int], httpx.Response], n: int, base: str) -> list[float]:
    with httpx.Client(base_url=base, timeout=30) as client:
        for i in range(5):  # warm-up: connection, first embedding, caches
            call(client, i).raise_for_status()
        out = []
        for i in range(n):
            start = time.perf_counter()
            call(client, i).raise_for_status()
            out.append((time.perf_counter() - start) * 1000)
    return out


def concurrent(
    call: Callable[[httpx.Client, int], httpx.Response], n: int, base: str, workers: int
) -> tuple[list[float], float]:
    """``n`` requests spread over ``workers`` keep-alive clients; (latencies, requests/s)."""

    def worker(w: int) -> list[float]:
        return sequential(lambda c, i: call(c, w * n + i), n // workers, base)

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(worker, range(workers)))
    wall = time.perf_counter() - start
    flat = [x for p in parts for x in p]
    return flat, len(flat) / wall


def stage_medians(data_dir: Path) -> dict[str, dict[str, float]]:
    """Median per-stage server latencies from the audit rows of this run, per kind and caller."""
    db = sqlite3.connect(data_dir / "gateway.sqlite3")
    stages: dict[str, dict[str, list[float]]] = {}
    rows = db.execute("SELECT kind, subject, latencies_ms FROM audit_log WHERE kind IN ('search', 'ask')")
    for kind, subject, raw in rows:
        for name, ms in json.loads(raw).items():
            stages.setdefault(f"{kind} {subject}", {}).setdefault(name, []).append(float(ms))
    db.close()
    return {k: {n: float(np.median(v)) for n, v in s.items()} for k, s in stages.items()}


def main() -> None:  # noqa: PLR0915 - a straight-line script reads best here
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="10k chunks, 20 requests")
    p.add_argument("--chunks", type=int, default=100_000)
    p.add_argument("--requests", type=int, default=200, help="sequential requests per endpoint and user")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--dir", type=Path, default=None)
    args = p.parse_args()
    if args.quick:
        args.chunks, args.requests = 10_000, 20
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
        )  # type: ignore[arg-type]
        users = {u.name: u for u in corpus.users()}

        def token(user: User) -> dict[str, str]:
            jwt = mint_dev_token(settings, user.name, list(user.groups), tenant=corpus.spec.tenant, ttl_seconds=3600)
            return {"Authorization": f"Bearer {jwt}"}

        port = free_port()
        start = time.perf_counter()
        proc = start_server(data_dir, port)
        console.print(f"server ready in {time.perf_counter() - start:.1f} s (port {port})")
        base = f"http://127.0.0.1:{port}"
        questions = [q.text for q in draw_queries(corpus, args.requests * 2)]

        def search(user: User) -> Callable[[httpx.Client, int], httpx.Response]:
            h = token(user)
            return lambda c, i: c.post("/v1/search", json={"query": questions[i % len(questions)], "k": 5}, headers=h)

        def ask(user: User) -> Callable[[httpx.Client, int], httpx.Response]:
            h = token(user)
            return lambda c, i: c.post("/v1/ask", json={"question": questions[i % len(questions)]}, headers=h)

        def healthz(c: httpx.Client, _i: int) -> httpx.Response:
            return c.get("/healthz")

        report = Report(
            "HTTP latency, ms, client-side over loopback "
            f"(uvicorn 1 worker; {corpus.spec.chunks:,} chunks; real embedder)",
            ["request", "mode", "p50", "p95", "req/s", "target (p95)"],
        )
        cases = [
            ("GET /healthz (HTTP floor)", healthz, ""),
            ("POST /v1/search, u5 (5%)", search(users["u5"]), "≤ 30 ms"),
            ("POST /v1/search, u1 (1%)", search(users["u1"]), ""),
            ("POST /v1/search, u100 (100%)", search(users["u100"]), ""),
            ("POST /v1/ask, u5 (5%), audited", ask(users["u5"]), "≤ 50 ms"),
        ]
        for name, call, target in cases:
            ms = sequential(call, args.requests, base)
            p50, p95 = percentiles(ms)
            report.add(name, "sequential", p50, p95, 1000 / float(np.mean(ms)), target)
        for name, call, _ in (cases[0], cases[1], cases[4]):
            ms, rate = concurrent(call, args.requests, base, args.concurrency)
            p50, p95 = percentiles(ms)
            report.add(name, f"{args.concurrency} concurrent", p50, p95, rate, "")
        report.print()
        stages = stage_medians(data_dir)
        breakdown = Report(
            "Server-side stage medians from the audit rows (ms)",
            [
                "kind, caller (sequential and concurrent rows together)",
                *sorted({s for v in stages.values() for s in v}),
            ],
        )
        for kind, values in sorted(stages.items()):
            breakdown.add(kind, *(values.get(s, "—") for s in breakdown.columns[1:]))
        breakdown.print()
        out = RESULTS / ("http-quick.md" if args.quick else "http.md")
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
