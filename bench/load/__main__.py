"""Load test: concurrent simulated users ask and search over HTTP against one gateway server on
127.0.0.1 for a bounded time, with the embedded defaults (SQLite) and with PostgreSQL.

Each user holds a keep-alive connection and a real development-issuer token (three personas:
1%, 5% and 100% visibility), and loops: ask (70%) or search (30%) with a fresh question, and one
request in twenty a question over the length limit (a deliberate, audited refusal). Afterwards,
with the server stopped (its shutdown anchor signed):

* audit rows of kind ask/search == answered + refused + failed requests (every response counted);
* ``gateway audit verify`` passes (the chain and the signed anchors);
* no 5xx other than deliberate 429/503;
* every answered ask carries citations.

The index is written with its document registry (``bench.indexed``), so asks really answer.

``python -m bench.load --seconds 30 --users 16`` (``--backends sqlite`` to skip PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import create_engine, text

from bench.common import Report, console, machine, throwaway_postgres
from bench.http import BIN, environment, free_port, prepare, start_server
from bench.indexed import visible_questions
from bench.synthetic import CorpusSpec, SyntheticCorpus
from gateway.auth.dev import mint_dev_token
from gateway.settings import Settings

RESULTS = Path(__file__).resolve().parents[1] / "results"
TOO_LONG = "x" * 5000


async def user_loop(
    base: str, headers: dict[str, str], questions: list[str], deadline: float, seed: int,
    samples: dict[str, list[float]], statuses: Counter[tuple[str, int]],
) -> None:  # fmt: skip
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        while time.monotonic() < deadline:
            endpoint = "ask" if rng.random() < 0.7 else "search"
            text_ = TOO_LONG if rng.random() < 0.05 else rng.choice(questions)
            body = {"question": text_} if endpoint == "ask" else {"query": text_, "k": 5}
            start = time.perf_counter()
            response = await client.post(f"/v1/{endpoint}", json=body, headers=headers)
            samples.setdefault(endpoint, []).append((time.perf_counter() - start) * 1000)
            statuses[(endpoint, response.status_code)] += 1
            if endpoint == "ask" and response.status_code == 200 and (body := response.json())["answered"]:
                statuses[("ask answered", 200)] += 1
                statuses[("ask answered without citations", 200)] += not body["citations"]
            await asyncio.sleep(rng.random() * 0.02)  # think time


async def drive(
    base: str, tokens: list[dict[str, str]], questions: list[list[str]], users: int, seconds: float
) -> tuple[
    dict[str, list[float]], Counter[tuple[str, int]], float
]:  # fmt: skip
    samples: dict[str, list[float]] = {}
    statuses: Counter[tuple[str, int]] = Counter()
    start = time.monotonic()
    await asyncio.gather(
        *(
            user_loop(base, tokens[u % len(tokens)], questions[u % len(tokens)], start + seconds, u, samples, statuses)
            for u in range(users)
        )
    )
    return samples, statuses, time.monotonic() - start


def audit_rows(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        n = int(conn.execute(text("SELECT count(*) FROM audit_log WHERE kind IN ('ask', 'search')")).scalar_one())
    engine.dispose()
    return n


CHECKS = [
    "audit store", "responses", "audit rows (ask, search)", "5xx other than 503", "asks answered",
    "answered without citations", "audit verify", "pass",
]  # fmt: skip


def after_load(backend: str, url: str, data_dir: Path, statuses: Counter[tuple[str, int]], checks: Report) -> bool:
    """Every response audited, the chain and anchors verify, no unexpected 5xx, answers cited."""
    uncited = statuses.pop(("ask answered without citations", 200), 0)
    asks_answered = statuses.pop(("ask answered", 200), 0)
    answered = sum(n for (_, c), n in statuses.items() if c in (200, 400, 403, 503))
    bad_5xx = sum(n for (_, c), n in statuses.items() if c >= 500 and c not in (503,))
    rows = audit_rows(url)
    verify = subprocess.run(
        [str(BIN / "gateway"), "audit", "verify"],
        env=environment(data_dir),
        capture_output=True,
        text=True,
        check=False,
    )
    ok = rows == answered and bad_5xx == 0 and verify.returncode == 0 and uncited == 0
    checks.add(
        backend, answered, rows, bad_5xx, asks_answered, uncited, "ok" if verify.returncode == 0 else "FAILED",
        "yes" if ok else "NO",
    )  # fmt: skip
    if verify.returncode != 0:
        console.print(verify.stdout[-2000:], verify.stderr[-2000:])
    return ok


def run_backend(backend: str, args: argparse.Namespace, report: Report, checks: Report) -> bool:
    data_dir = Path(tempfile.mkdtemp(prefix=f"bench-load-{backend}-"))
    proc = None
    try:
        with throwaway_postgres("bench_load") if backend == "postgres" else contextlib.nullcontext():
            url = os.environ.get("GATEWAY_DATABASE_URL") or f"sqlite:///{data_dir / 'gateway.sqlite3'}"
            corpus = SyntheticCorpus(CorpusSpec(chunks=args.chunks))
            prepare(corpus, data_dir)
            settings = Settings(
                environment="development", dev_issuer=True, data_dir=data_dir, oidc={"tenant_claim": "tenant"}
            )
            tokens = [
                {
                    "Authorization": "Bearer "
                    + mint_dev_token(settings, u.name, list(u.groups), tenant=corpus.spec.tenant)
                }
                for u in corpus.users()
            ]
            # Per persona, passages it may read (asks retrieve something answerable), 2,000 distinct each.
            questions = [visible_questions(corpus, u, 2_000) for u in corpus.users()]
            port = free_port()
            proc = start_server(data_dir, port, {})
            samples, statuses, wall = asyncio.run(
                drive(f"http://127.0.0.1:{port}", tokens, questions, args.users, args.seconds)
            )
            proc.terminate()  # graceful: the shutdown anchor signs the final head
            proc.wait(timeout=60)
            proc = None
            for endpoint in ("ask", "search"):
                ms = np.asarray(samples.get(endpoint, [0.0]))
                p50, p95, p99 = (float(np.percentile(ms, q)) for q in (50, 95, 99))
                codes = ", ".join(f"{c}: {n}" for (e, c), n in sorted(statuses.items()) if e == endpoint)
                report.add(backend, f"POST /v1/{endpoint}", args.users, len(ms) / wall, p50, p95, p99, codes)
            return after_load(backend, url, data_dir, statuses, checks)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--users", type=int, default=16)
    p.add_argument("--chunks", type=int, default=20_000)
    p.add_argument("--backends", default="sqlite,postgres")
    args = p.parse_args()
    console.print(machine())
    report = Report(
        f"Load: {args.users} simulated users for {args.seconds:.0f} s over HTTP ({args.chunks:,} chunks, "
        "uvicorn 1 worker, real embedder)",
        ["audit store", "request", "users", "req/s", "p50 ms", "p95 ms", "p99 ms", "responses by status"],
    )
    checks = Report("After the load: every response audited, the chain and anchors verify, no unexpected 5xx", CHECKS)
    ok = True
    for backend in args.backends.split(","):
        ok = run_backend(backend, args, report, checks) and ok
        report.print()
        checks.print()
    out = RESULTS / "load.md"
    out.write_text(machine() + "\n\n" + report.markdown() + "\n" + checks.markdown(), encoding="utf-8")
    console.print(f"markdown tables: {out}")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
