"""What the defaults were chosen on: dev-split experiments over every corpus of the suite.

Never looks at a test query. For each corpus (fresh index, product ingest) it collects each dev
query's filtered BM25 and vector candidate lists (50 chunks each) and the cosine of the query with
every document's *head* (title + the document's first 256 word pieces, embedded by the same model),
then compares, averaged over the corpora (macro: each corpus and query set counts once):

1. dense document score: best chunk, head only, max(best chunk, head), mean of the two;
2. fusion at document level: RRF, min-max and z-score weighted fusion at BM25 weights 0.1-0.9,
   per query class of ``gateway.retrieval.adaptive.classify`` (identifier / natural / mixed).

    python -m bench.quality_tune [--corpora man,faq,techdoc,catalogue] [--man-pages 1000]
"""

from __future__ import annotations

import argparse
import logging
import pickle
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bench.corpora import Corpus
from bench.quality_suite import OUT, cached_embedder, load_corpora, open_corpus, query_set, rank_of, reciprocal, sides
from gateway.retrieval.adaptive import classify

Scores = dict[str, float]
WEIGHTS = [round(w, 1) for w in np.arange(0.1, 1.0, 0.1)]


def best_per_doc(pairs: Sequence[tuple[str, float]]) -> Scores:
    out: Scores = {}
    for doc, score in pairs:
        out[doc] = max(score, out.get(doc, -np.inf))
    return out


def ranking(scores: Scores, k: int = 10) -> list[str]:
    return [d for d, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]


def normalise(scores: Scores, how: str) -> Scores:
    if not scores:
        return {}
    v = np.asarray(list(scores.values()))
    if how == "min_max":
        lo, hi = v.min(), v.max()
        return {d: (s - lo) / (hi - lo) if hi > lo else 1.0 for d, s in scores.items()}
    mu, sd = v.mean(), v.std()
    return {d: (s - mu) / sd if sd > 0 else 0.0 for d, s in scores.items()}


def weighted(lex: Scores, vec: Scores, w: float, how: str) -> list[str]:
    nl, nv = normalise(lex, how), normalise(vec, how)
    floor_l = min(nl.values(), default=0.0) if how == "z_score" else 0.0
    floor_v = min(nv.values(), default=0.0) if how == "z_score" else 0.0
    docs = set(nl) | set(nv)
    return ranking({d: w * nl.get(d, floor_l) + (1 - w) * nv.get(d, floor_v) for d in docs})


def rrf(lex: Scores, vec: Scores, k: int = 60) -> list[str]:
    out: Scores = {}
    for side in (lex, vec):
        for r, d in enumerate(ranking(side, 1000), 1):
            out[d] = out.get(d, 0.0) + 1.0 / (k + r)
    return ranking(out)


class Rows:
    """Per (corpus, query set): the dev queries' doc-level side scores."""

    def __init__(self) -> None:
        self.groups: dict[str, list[int]] = {}
        self.answers: list[str] = []
        self.texts: list[str] = []
        self.lex: list[Scores] = []
        self.dense: dict[str, list[Scores]] = {}


def collect(corpus: Corpus, rows: Rows, embedder: object) -> None:
    queries = corpus.split("dev")
    with tempfile.TemporaryDirectory(prefix="gateway-tune-") as tmp:
        services, _ = open_corpus(corpus, Path(tmp), embedder)  # type: ignore[arg-type]
        found = sides(services, queries)
        heads = services.embedder.embed([f"{d.title}\n{d.text}" for d in corpus.docs])
        ids = [d.document_id for d in corpus.docs]
        blended, blended_doc = _blended(Path(tmp), dict(zip(ids, heads, strict=True)))
        for q, s in zip(queries, found, strict=True):
            rows.groups.setdefault(f"{corpus.name}/{query_set(q)}", []).append(len(rows.answers))
            rows.answers.append(q.answer)
            rows.texts.append(q.text)
            rows.lex.append(best_per_doc([(h.document_id, h.score) for h in s.lexical]))
            chunk = best_per_doc([(h.document_id, h.score) for h in s.vector])
            cos = heads @ s.query_vector
            top = np.argsort(-cos)[:50]
            head = {ids[i]: float(cos[i]) for i in top}
            floor = min(chunk.values(), default=0.0)
            both = set(chunk) | set(head)
            full_head = {ids[i]: float(cos[i]) for i in range(len(ids))}
            variants = {
                "best chunk": chunk,
                "head only": head,
                "max(chunk, head)": {d: max(chunk.get(d, floor), full_head[d]) for d in both},
                "mean(chunk, head)": {d: (chunk.get(d, floor) + full_head[d]) / 2 for d in both},
                "blend: cos(q, normalise(chunk + head))": _top_docs(blended @ s.query_vector, blended_doc),
            }
            for name, scores in variants.items():
                rows.dense.setdefault(name, []).append(scores)
        services.close()


def _blended(data_dir: Path, heads: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """Every chunk vector blended with its document's head vector, renormalised (one row per chunk)."""
    import sqlite3  # noqa: PLC0415

    db = sqlite3.connect(data_dir / "index" / "chunks.sqlite3")
    rows = db.execute("SELECT document_id, vector FROM chunks WHERE live = 1").fetchall()
    docs = [str(r[0]) for r in rows]
    chunks = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
    mixed = chunks + np.stack([heads[d] for d in docs])
    return mixed / np.linalg.norm(mixed, axis=1, keepdims=True), docs


def _top_docs(scores: np.ndarray, docs: list[str], n: int = 50) -> Scores:
    out: Scores = {}
    for i in np.argsort(-scores):
        if docs[i] not in out:
            out[docs[i]] = float(scores[i])
            if len(out) == n:
                break
    return out


def macro(
    rows: Rows, rank_fn: Callable[[int], list[str]], only: Callable[[str], bool] = lambda _: True
) -> tuple[float, Scores]:
    per: Scores = {}
    for group, idx in rows.groups.items():
        rr = reciprocal([rank_of(rows.answers[i], rank_fn(i)) for i in idx if only(rows.texts[i])])
        if rr.size:
            per[group] = float(rr.mean())
    return float(np.mean(list(per.values()))), per


def report(rows: Rows) -> None:
    print("\n## dense document score (dev, MRR@10)")
    for name, scores in rows.dense.items():
        avg, per = macro(rows, lambda i, s=scores: ranking(s[i]))
        print(f"| {name} | {avg:.3f} | " + " | ".join(f"{g} {v:.3f}" for g, v in per.items()) + " |")
    avg, per = macro(rows, lambda i: ranking(rows.lex[i]))
    print(f"| BM25 side | {avg:.3f} | " + " | ".join(f"{g} {v:.3f}" for g, v in per.items()) + " |")
    for dense_name in rows.dense:
        dense = rows.dense[dense_name]
        print(f"\n## fusion with dense = {dense_name} (dev, macro MRR@10 over corpus/sets)")
        avg, _ = macro(rows, lambda i, d=dense: rrf(rows.lex[i], d[i]))
        print(f"RRF k=60: {avg:.3f}")
        for how in ("min_max", "z_score"):
            line = []
            for w in WEIGHTS:
                avg, _ = macro(rows, lambda i, w=w, how=how, d=dense: weighted(rows.lex[i], d[i], w, how))
                line.append(f"{w}:{avg:.3f}")
            print(f"{how}: " + " ".join(line))
            for kind in ("identifier", "natural", "mixed"):
                cells = []
                for w in WEIGHTS:
                    avg, _ = macro(
                        rows,
                        lambda i, w=w, how=how, d=dense: weighted(rows.lex[i], d[i], w, how),
                        lambda t, k=kind: classify(t) == k,
                    )
                    cells.append(f"{w}:{avg:.3f}")
                print(f"  {kind}: " + " ".join(cells))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpora", default="man,faq,techdoc,catalogue")
    parser.add_argument("--man-pages", type=int, default=1000)
    parser.add_argument("--per-kind", type=int, default=100)
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--reuse", action="store_true", help="reuse the last collected candidate lists")
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)
    corpora = load_corpora(args.corpora.split(","), man_pages=args.man_pages, per_kind=args.per_kind, seed=args.seed)
    saved = OUT / "tune-rows.pkl"
    if args.reuse and saved.exists():
        rows = pickle.loads(saved.read_bytes())  # noqa: S301 - our own file under bench/out
    else:
        embedder = cached_embedder()
        rows = Rows()
        for corpus in corpora:
            collect(corpus, rows, embedder)
            print(f"{corpus.name}: {len(corpus.split('dev'))} dev queries; {embedder.computed} new", file=sys.stderr)
        saved.write_bytes(pickle.dumps(rows))
    report(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
