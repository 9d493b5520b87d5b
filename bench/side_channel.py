"""Timing side channel of ``GET``/``DELETE /v1/documents/{id}``: can a caller tell an existing but
forbidden id from an absent one by the time of its 404?

Through the real app (Litestar test client, SQLite, embedded index, sample corpus), as a persona who
may read neither kind of id. Absent and forbidden requests are interleaved at random, so drift on a
loaded machine hits both alike. Reported per method: the medians, and how well a threshold at the
midpoint of the two medians classifies (a) single requests and (b) ids from the median of ``--per-id``
requests each (the red team's attack: 41 samples per id). 50% is a coin toss; 100% tells every id.

``python -m bench.side_channel [--ids 12 --per-id 41]``. Runs against whatever ``gateway`` package
is first on ``sys.path``, so the same script measures another checkout (``PYTHONPATH=<checkout>``).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

import gateway
from gateway.app import create_app
from gateway.auth.dev import mint_dev_token
from gateway.deps import build_services
from tests.e2e.conftest import TENANT, load_sample, make_settings

FORBIDDEN = [
    "hr-restricted-salary-bands-2025",
    "hr-restricted-succession-plan-2025",
    "board-minutes-2025-06",
    "finance-q3-fy2025-forecast",
    "hr-hiring-process",
    "legal-litigation-hold-brightline",
    "hr-onboarding-checklist",
    "finance-fy2025-budget-summary",
    "finance-month-end-close",
    "legal-data-retention-schedule",
    "hr-pto-administration",
    "finance-procurement-policy",
]
"""Sample documents the persona (engineering staff) may not read."""


def _time(client: TestClient[Any], method: str, path: str, headers: dict[str, str]) -> float:
    start = time.perf_counter()
    r = client.request(method, path, headers=headers)
    elapsed = (time.perf_counter() - start) * 1000
    if r.status_code != 404:
        raise SystemExit(f"{method} {path} answered {r.status_code}, expected 404")
    return elapsed


def _accuracy(absent: list[float], forbidden: list[float]) -> float:
    cut = (statistics.median(absent) + statistics.median(forbidden)) / 2
    low_is_absent = statistics.median(absent) <= statistics.median(forbidden)
    right = sum((x <= cut) == low_is_absent for x in absent) + sum((x > cut) == low_is_absent for x in forbidden)
    return right / (len(absent) + len(forbidden))


def measure(client: TestClient[Any], headers: dict[str, str], method: str, ids: int, per_id: int) -> list[str]:
    existing = FORBIDDEN[:ids]
    absent_ids = [f"no-such-document-{i:03d}" for i in range(len(existing))]
    plan = [(d, False) for d in absent_ids for _ in range(per_id)] + [
        (d, True) for d in existing for _ in range(per_id)
    ]
    random.Random(7).shuffle(plan)
    samples: dict[tuple[str, bool], list[float]] = {}
    for _ in range(20):  # warm-up
        _time(client, method, "/v1/documents/warm-up", headers)
    for doc, hidden in plan:
        samples.setdefault((doc, hidden), []).append(_time(client, method, f"/v1/documents/{doc}", headers))
    absent = [x for (_, hidden), xs in samples.items() if not hidden for x in xs]
    forbidden = [x for (_, hidden), xs in samples.items() if hidden for x in xs]
    per_absent = [statistics.median(xs) for (_, hidden), xs in samples.items() if not hidden]
    per_forbidden = [statistics.median(xs) for (_, hidden), xs in samples.items() if hidden]
    return [
        method,
        f"{statistics.median(absent):.2f}",
        f"{statistics.median(forbidden):.2f}",
        f"{_accuracy(absent, forbidden):.0%}",
        f"{_accuracy(per_absent, per_forbidden):.0%} of {len(per_absent) + len(per_forbidden)}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=12, help="forbidden ids (and as many absent ones)")
    parser.add_argument("--per-id", type=int, default=21, help="requests per id")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(Path(tmp))
        services = build_services(settings)
        with TestClient(app=create_app(services=services)) as client:
            load_sample(services)
            token = mint_dev_token(settings, "eve", ["staff", "engineering"], tenant=TENANT, ttl_seconds=3600)
            headers = {"Authorization": f"Bearer {token}"}
            rows = [measure(client, headers, m, args.ids, args.per_id) for m in ("GET", "DELETE")]
        services.close()
    print(f"code under test: {Path(gateway.__file__).parent}", file=sys.stderr)
    header = ["method", "absent p50 ms", "forbidden p50 ms", "single request classified", "ids classified"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
