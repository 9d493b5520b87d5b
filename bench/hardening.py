"""What the hardening controls cost on the request path, beside the naive alternative (none).

* the rate limiter (one subject + one tenant check per request): in-process memory and Redis on
  127.0.0.1, against no limiter at all;
* a bounded stage (a slot, a worker thread, a timeout) around a trivial call and around a query
  embedding with the hashing embedder, against calling it directly.

``python -m bench.hardening`` (a few seconds). Nothing is tuned here: there is nothing to tune.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable

import numpy as np

from bench.common import Report, machine, percentiles
from gateway.auth.principal import Principal
from gateway.ratelimit import RequestLimiter
from gateway.retrieval.embed import HashingEmbedder
from gateway.settings import LimitsSettings, StageSettings
from gateway.stages import Stage

REDIS = "redis://127.0.0.1:6379/0"


def _samples(fn: Callable[[], object], n: int) -> list[float]:
    for _ in range(min(50, n)):
        fn()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    args = parser.parse_args()
    n = args.n
    principals = [Principal(f"user{i}", "bench") for i in range(100)]
    report = Report(f"Hardening controls per request ({machine()})", ["variant", "p50 µs", "p95 µs", "mean µs"])

    def row(name: str, samples: list[float]) -> None:
        p50, p95 = percentiles(samples)
        report.add(name, p50 * 1000, p95 * 1000, float(np.mean(samples)) * 1000)

    huge = "1000000/second"
    i = 0

    def next_principal() -> Principal:
        nonlocal i
        i += 1
        return principals[i % len(principals)]

    row("no rate limit (naive)", _samples(next_principal, n))
    memory = RequestLimiter(LimitsSettings(subject_rate=huge, tenant_rate=huge))
    row("rate limit, memory (subject + tenant)", _samples(lambda: memory.check(next_principal()), n))
    redis = RequestLimiter(
        LimitsSettings(subject_rate=huge, tenant_rate=huge, redis_url=REDIS, key_prefix=f"bench-{uuid.uuid4().hex}")
    )
    row("rate limit, Redis 127.0.0.1 (subject + tenant)", _samples(lambda: redis.check(next_principal()), n))

    stage = Stage("bench", slots=4, timeout=5.0, queue_seconds=5.0)
    row("trivial call, direct (naive)", _samples(lambda: None, n))
    row("trivial call, through a bounded stage", _samples(lambda: stage.run(lambda: None), n))
    embedder = HashingEmbedder(384)
    query = ["how long is the on-call rotation for the platform team?"]
    row("query embedding (hashing), direct", _samples(lambda: embedder.embed(query), n))
    row("query embedding (hashing), bounded stage", _samples(lambda: stage.run(lambda: embedder.embed(query)), n))
    stage.close()
    report.print()
    print(report.markdown())
    print(f"defaults: {StageSettings()}")


if __name__ == "__main__":
    main()
