"""``python -m bench.poisoning.train_head``: train the learned instruction head on the DEV split only.

Data (every document from the dev split of ``bench.poisoning``; the test split is never read):

- positives: passages of dev attack documents (injected instructions, hidden content,
  exfiltration) that hold text the attack added — a sentence found neither in the carrier prose
  nor in garak's benign contexts (its reports, résumés and whois records);
- negatives: every passage of the dev clean documents, the carrier-only passages of the attack
  documents, and garak's latent-injection contexts with the injection left out (so the head
  cannot learn "a résumé is an attack").

A logistic regression (Newton steps, L2, classes weighted to equal mass) over the MiniLM
vectors. The regularisation is chosen by 5-fold cross-validation over dev groups (a group —
template, payload or document — never straddles folds), and the policy threshold is the lowest
at which the out-of-fold document false-positive rate on dev clean prose stays ≤ ``MAX_FP``.
Writes ``guards/poisoning/instruction_head.json``; deterministic (no random initialisation).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.poisoning import garak_data as garak
from bench.poisoning.attacks import _LATENT, _attr
from bench.poisoning.clean import carriers
from bench.poisoning.corpus import corpus, embedded_passages, passage_texts
from bench.poisoning.embeddings import embed_all
from bench.poisoning.screening import document
from gateway.retrieval.embed import _PACKAGED_MODEL_ID
from guards.poisoning.learned import HEAD_FILE, LinearHead

HEAD_PATH = Path(__file__).resolve().parents[2] / "guards" / "poisoning" / HEAD_FILE
CATEGORIES = ("instructions", "hidden_content", "exfiltration")
MAX_FP = 0.003
"""Out-of-fold false-positive budget on dev clean documents (the product's target is 1% in all)."""
IN_SAMPLE_FP = 0.001
"""The threshold is then raised until the final model flags at most this share of dev clean documents."""
LAMBDAS = (1.0, 10.0, 30.0, 100.0)
FOLDS = 5
_SEGMENT = re.compile(r"[^.!?\n]+")
Matrix = npt.NDArray[np.float64]


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def benign_contexts() -> list[str]:
    """garak's latent-injection contexts and paragraphs without any injection in them."""
    classes = garak.probe_classes("latentinjection")
    out = list(garak.payloads("whois_injection_contexts"))
    for name in _LATENT:
        out += _attr(classes, name, "paragraphs") or []
        out += _attr(classes, name, "contexts") or []
    markers = [*garak.MARKERS.values(), "{INJECTION_MARKER}"]
    pattern = re.compile("|".join(re.escape(m) for m in markers))
    return [pattern.sub(" ", text) for text in out]


def is_added(passage: str, benign: str) -> bool:
    """True when the passage holds a 4+ word segment found nowhere in the benign text."""
    return any(len(s.split()) >= 4 and _norm(s) not in benign for s in _SEGMENT.findall(passage))


def training_set() -> tuple[Matrix, npt.NDArray[np.float64], list[str], list[str], list[bool]]:
    """(X, y, group per row, document per row, row is a clean document's passage)."""
    clean, attacks = corpus()
    contexts = benign_contexts()
    benign = _norm("\n".join([*carriers(clean), *contexts]))
    dev = [s for s in [*clean, *attacks] if s.split == "dev" and s.category in ("clean", *CATEGORIES)]
    texts = {s.doc_id: document(s).text for s in dev}
    passages = embedded_passages(texts)
    rows: list[tuple[np.ndarray, float, str, str, bool]] = []
    for s in dev:
        for p in passages[s.doc_id]:
            label = float(s.category != "clean" and is_added(p.text, benign))
            assert p.vector is not None
            rows.append((p.vector, label, s.group, s.doc_id, s.category == "clean"))
    context_passages = [p for c in contexts for p in passage_texts(c)]
    for text, vector in zip(context_passages, embed_all(context_passages), strict=True):
        key = "garak-context:" + hashlib.sha256(text.encode()).hexdigest()[:12]
        rows.append((vector, 0.0, key, key, False))
    x = np.stack([r[0] for r in rows]).astype(np.float64)
    y = np.array([r[1] for r in rows])
    return x, y, [r[2] for r in rows], [r[3] for r in rows], [r[4] for r in rows]


def fit(x: Matrix, y: npt.NDArray[np.float64], lam: float, steps: int = 25) -> tuple[np.ndarray, float]:
    """Weighted L2 logistic regression by Newton's method (the bias is not penalised)."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    pos = max(y.sum(), 1.0)
    weight = np.where(y > 0, len(y) / (2 * pos), len(y) / (2 * max(len(y) - pos, 1.0)))
    w = np.zeros(xb.shape[1])
    penalty = np.full(xb.shape[1], lam)
    penalty[-1] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(xb @ w)))
        grad = xb.T @ (weight * (p - y)) + penalty * w
        hess = (xb * (weight * p * (1 - p))[:, None]).T @ xb + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return w[:-1], float(w[-1])


def _fold(group: str) -> int:
    return hashlib.sha256(("fold:" + group).encode()).digest()[0] % FOLDS


def out_of_fold(x: Matrix, y: npt.NDArray[np.float64], groups: list[str], lam: float) -> npt.NDArray[np.float64]:
    folds = np.array([_fold(g) for g in groups])
    scores = np.zeros(len(y))
    for k in range(FOLDS):
        w, b = fit(x[folds != k], y[folds != k], lam)
        scores[folds == k] = 1.0 / (1.0 + np.exp(-(x[folds == k] @ w + b)))
    return scores


def per_document(scores: npt.NDArray[np.float64], docs: list[str], clean: list[bool], attack_docs: set[str]):  # type: ignore[no-untyped-def]
    best: dict[str, float] = defaultdict(float)
    for s, d in zip(scores, docs, strict=True):
        best[d] = max(best[d], float(s))
    clean_docs = sorted({d for d, c in zip(docs, clean, strict=True) if c})
    return np.array([best[d] for d in clean_docs]), np.array([best[d] for d in sorted(attack_docs)])


def threshold_for(clean_scores: npt.NDArray[np.float64]) -> float:
    """The lowest threshold (0.01 steps) whose clean-document false-positive rate is ≤ ``MAX_FP``."""
    for t in np.arange(0.5, 1.0, 0.01):
        if (clean_scores >= t).mean() <= MAX_FP:
            return round(float(t), 2)
    return 0.99


def main() -> None:
    x, y, groups, docs, clean = training_set()
    attack_docs = {d for d, label in zip(docs, y, strict=True) if label > 0}
    print(f"dev rows: {len(y)}, positive passages: {int(y.sum())}, attack documents: {len(attack_docs)}")
    results = []
    for lam in LAMBDAS:
        oof = out_of_fold(x, y, groups, lam)
        clean_scores, attack_scores = per_document(oof, docs, clean, attack_docs)
        t = threshold_for(clean_scores)
        recall = float((attack_scores >= t).mean())
        fp = float((clean_scores >= t).mean())
        print(f"lambda {lam:>5}: threshold {t:.2f}, out-of-fold attack-document recall {recall:.1%}, clean FP {fp:.2%}")
        results.append((recall, -lam, lam, t))
    recall, _, lam, t = max(results)
    w, b = fit(x, y, lam)
    in_sample, _ = per_document(1.0 / (1.0 + np.exp(-(x @ w + b))), docs, clean, attack_docs)
    while (in_sample >= t).mean() > IN_SAMPLE_FP:  # the final model on all of dev may score its clean docs higher
        t = round(t + 0.005, 3)
    print(f"policy threshold after the in-sample check on dev clean documents: {t}")
    head = LinearHead(w.astype(np.float32), b, _PACKAGED_MODEL_ID, f"1-{hashlib.sha256(w.tobytes()).hexdigest()[:8]}")
    training = {"split": "dev", "rows": len(y), "positives": int(y.sum()), "lambda": lam, "threshold": t,
                "oof_recall": round(recall, 4), "max_fp": MAX_FP}  # fmt: skip
    HEAD_PATH.write_text(json.dumps(head.as_dict(training=training)) + "\n", encoding="utf-8")
    print(f"wrote {HEAD_PATH} (lambda {lam}, policy threshold {t})")


if __name__ == "__main__":
    main()
