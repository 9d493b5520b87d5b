"""Does a heavy document starve queries? Search latency while a large HTML document is parsed.

Three runs of the same ``/v1/search`` loop through the real app (test client, SQLite, embedded
index, sample corpus, hashing embedder so that parsing is the load under study):

* **idle**: nothing else running;
* **in-process parse** (the naive alternative, what the gateway did before): a thread parses and
  chunks the document in the gateway process, competing for the GIL and the cores;
* **worker parse** (the product path): the same document through ``IngestWorkers``, in a niced
  worker process.

``python -m bench.ingest_isolation [--megabytes 6 --queries 60]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from gateway.app import create_app
from gateway.auth.dev import mint_dev_token
from gateway.deps import build_services, provide_ingest_limits
from gateway.ingest.documents import Submission
from gateway.ingest.prepare import prepare
from gateway.ingest.workers import IngestWorkers
from tests.e2e.conftest import TENANT, load_sample, make_settings


def _html(megabytes: float) -> bytes:
    cell = b"<div><p>lorem <b>ipsum</b> dolor sit amet, <i>consectetur</i> adipiscing</p></div>"
    return b"<html><body>" + cell * int(megabytes * 2**20 / len(cell)) + b"</body></html>"


def _latencies(client: TestClient[Any], headers: dict[str, str], queries: int) -> list[float]:
    out = []
    for i in range(queries):
        start = time.perf_counter()
        r = client.post("/v1/search", json={"query": f"on-call rotation {i}"}, headers=headers)
        out.append((time.perf_counter() - start) * 1000)
        assert r.status_code == 200
    return out


def _under(load: Callable[[], None] | None, run: Callable[[], list[float]]) -> tuple[list[float], float]:
    if load is None:
        return run(), 0.0
    done = threading.Event()
    seconds = [0.0]

    def work() -> None:
        start = time.perf_counter()
        while not done.is_set():
            load()
        seconds[0] = time.perf_counter() - start

    thread = threading.Thread(target=work)
    thread.start()
    time.sleep(0.5)
    try:
        return run(), seconds[0]
    finally:
        done.set()
        thread.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=6.0)
    parser.add_argument("--queries", type=int, default=60)
    args = parser.parse_args()
    document = Submission("big", "public", content=_html(args.megabytes), mime_type="text/html")
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(Path(tmp))
        services = build_services(settings)
        limits = provide_ingest_limits(settings)
        limits = type(limits)(limits.max_bytes, 10**9, limits.chunk_tokens, limits.overlap_tokens)
        workers = IngestWorkers(workers=1, parse_timeout=600, inline_bytes=0, queue_timeout=600)
        workers.prepare(Submission("warm", "public", content=b"<p>x</p>", mime_type="text/html"), limits)
        with TestClient(app=create_app(services=services)) as client:
            load_sample(services)
            token = mint_dev_token(settings, "alice", ["staff", "engineering"], tenant=TENANT, ttl_seconds=3600)
            headers = {"Authorization": f"Bearer {token}"}
            run = lambda: _latencies(client, headers, args.queries)  # noqa: E731
            _latencies(client, headers, 10)  # warm-up
            rows = [
                ("idle", *_under(None, run)),
                ("in-process parse (naive)", *_under(lambda: prepare(document, limits), run)),
                ("worker parse (product)", *_under(lambda: workers.prepare(document, limits), run)),
            ]
        workers.shutdown()
        services.close()
    print(f"search latency while a {args.megabytes:g} MB HTML document is parsed, {args.queries} queries")
    print("| load | p50 ms | p95 ms | vs idle p50 |")
    print("|---|---|---|---|")
    idle = statistics.median(rows[0][1])
    for name, samples, _ in rows:
        p50, p95 = statistics.median(samples), statistics.quantiles(samples, n=20)[18]
        print(f"| {name} | {p50:.1f} | {p95:.1f} | {p50 / idle:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
