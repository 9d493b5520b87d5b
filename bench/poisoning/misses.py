"""The dev split's misses and false positives, written out for whoever tunes the detectors.

Only the dev split is ever listed: rules and thresholds are designed from these, and the test
split stays held out (its misses are counted in the table, never shown).
"""

from __future__ import annotations

from pathlib import Path

from bench.poisoning.screening import Outcome

MISSES = Path(__file__).resolve().parents[1] / "out" / "poisoning_dev_misses.txt"
EXCERPT = 600


def write_dev_misses(outcomes: list[Outcome], path: Path = MISSES) -> Path:
    """Dev attacks not flagged and dev clean documents flagged, with their reasons; returns the path."""
    lines: list[str] = []
    for o in outcomes:
        s = o.sample
        if s.split != "dev" or o.flagged == (s.category != "clean"):
            continue
        kind = "FALSE POSITIVE" if s.category == "clean" else "MISS"
        reasons = "; ".join(
            f"{r.detector} {r.score:.2f}: {list(r.labels)} {list(r.evidence)}" for r in o.decision.reasons
        )
        scores = {v.guard: max((f.score for f in v.findings), default=0.0) for v in o.decision.verdicts}
        text = (s.raw.decode("utf-8", "replace") if s.raw and s.mime_type == "text/html" else s.text)[:EXCERPT]
        lines += [f"=== {kind} {s.category}/{s.technique} {s.doc_id}", f"reasons: {reasons or '-'}",
                  f"best finding per detector: { {k: v for k, v in scores.items() if v} }", text, ""]  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    print(f"\ndev misses and false positives: {path} ({sum(line.startswith('===') for line in lines)})")
    return path
