"""What the PII guard adds to ``/v1/ask``: the same app with the guard on and off, same run, same corpus.

    python -m bench.pii.answer_overhead [--asks 60]

Three documents of one long sentence each (~60 words) that all match the question, so the
extractive generator quotes all three (~180 words: its maximum is three sentences of <= 400 chars);
a few values are PII. Reported: end-to-end latency p50/p95 per arm, and the guard's own stage
(``pii`` + ``pii_question`` in the audit row's latencies).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from gateway.app import create_app
from gateway.auth.dev import mint_dev_token
from gateway.deps import build_services
from gateway.settings import Settings

S1 = ("The quarterly vendor onboarding review for the northwind procurement programme is led by Dana Whitfield, "
      "who checks every vendor onboarding file for a signed contract, a tax form, a security questionnaire and "
      "a named contact, and who answers vendor onboarding questions by email at dana.whitfield@northwind-corp.com "
      "or by phone on (415) 555-0132 during the quarterly review window.")  # fmt: skip
S2 = ("During the quarterly vendor onboarding review the procurement team also confirms that each vendor bank "
      "account has been verified against the master record, that payment terms follow the standard schedule of "
      "thirty days, and that any vendor onboarding exception is recorded in the review log with a reason and an "
      "owner before the quarterly review closes for the programme.")  # fmt: skip
S3 = ("Vendors that fail the quarterly onboarding review are moved to a remediation list owned by the procurement "
      "programme lead, who sends a written notice listing the missing vendor onboarding items, agrees a date for "
      "the next review, and records the outcome of the quarterly vendor onboarding review in the programme tracker "
      "so that internal and external auditors can follow every decision later.")  # fmt: skip
REPO = Path(__file__).resolve().parents[2]
QUESTION = "quarterly vendor onboarding review"  # the extractive generator then quotes all three sentences


def _settings(data_dir: Path, pii: bool) -> Settings:
    return Settings(
        environment="test", data_dir=data_dir, dev_issuer=True,
        oidc={"tenant_claim": "tenant"}, embedding={"provider": "hashing"}, pii={"enabled": pii},  # type: ignore[arg-type]
    )  # fmt: skip


def run_arm(pii: bool, asks: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        services = build_services(_settings(Path(tmp), pii))
        with TestClient(app=create_app(services=services)) as client:
            services.policy.reload_seed(REPO / "policies", actor="bench", extra_files=[REPO / "data/sample/policy.csv"])
            admin = mint_dev_token(services.settings, "root", ["gateway-admins", "staff"], tenant="northwind")
            user = mint_dev_token(services.settings, "bob", ["staff"], tenant="northwind")
            for i, sentence in enumerate((S1, S2, S3)):  # one chunk each: the answer quotes all three
                doc = {"id": f"vendor-review-{i}", "title": "Vendor onboarding review", "collection": "public",
                       "text": f"{sentence}\n"}  # fmt: skip
                r = client.post("/v1/documents", json=doc, headers={"Authorization": f"Bearer {admin}"})
                assert r.status_code == 201, r.text
            latencies, stage, words = [], [], 0
            for i in range(asks + 5):
                start = time.perf_counter()
                r = client.post("/v1/ask", json={"question": QUESTION}, headers={"Authorization": f"Bearer {user}"})
                elapsed = (time.perf_counter() - start) * 1000
                assert r.status_code == 200, r.text
                if i >= 5:  # warm-up
                    latencies.append(elapsed)
                    words = len(r.json()["answer"].split())
            rows = services.audit.search(kind="ask", limit=asks)
            stage = [row["latencies_ms"].get("pii", 0) + row["latencies_ms"].get("pii_question", 0) for row in rows]
        services.close()
    q = statistics.quantiles
    return {"pii": pii, "answer_words": words, "p50_ms": statistics.median(latencies), "p95_ms": q(latencies, n=20)[18],
            "guard_p50_ms": statistics.median(stage), "guard_p95_ms": q(stage, n=20)[18]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--asks", type=int, default=60)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    arms = [run_arm(False, args.asks), run_arm(True, args.asks)]
    print("| guard | answer words | /v1/ask p50 ms | /v1/ask p95 ms | guard stage p50 ms | guard stage p95 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for a in arms:
        print(f"| {'on' if a['pii'] else 'off'} | {a['answer_words']} | {a['p50_ms']:.1f} | {a['p95_ms']:.1f} | "
              f"{a['guard_p50_ms']:.1f} | {a['guard_p95_ms']:.1f} |")  # fmt: skip
    print(f"added p95: {arms[1]['p95_ms'] - arms[0]['p95_ms']:.1f} ms")


if __name__ == "__main__":
    main()
