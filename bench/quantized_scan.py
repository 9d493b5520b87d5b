"""The 100%-visibility vector scan at scale: exact float32 vs int8 blocks + exact float32 re-rank.

Clustered unit vectors (384 dimensions, 2,000 centres: closer to real embeddings than i.i.d.
noise, whose neighbours are meaningless), the queries drawn near random rows. ``float32`` is the
embedded retriever's exact scan today (all rows in memory, one matrix product);
``int8 + re-rank R`` scans int8 codes with the engine's kernel (``quantized.approximate``) and
re-ranks the approximate top ``R`` exactly from float32 rows in a memory-mapped file (read only for
those rows). The engine itself re-ranks from its chunk store: ``bench.scale`` measures that. Recall@10 is
against the exact float32 top 10. Resident bytes are the arrays each variant keeps in memory.

Tuned (the re-rank depth) on the first half of the queries (dev), reported on the second half (test).

``python -m bench.quantized_scan --rows 1000000``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import Report, console, machine
from gateway.retrieval.embedded.quantized import approximate, quantize

RESULTS = Path(__file__).resolve().parent / "results"


def clustered(rows: int, dim: int, out: np.memmap, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((2000, dim)).astype(np.float32)
    for lo in range(0, rows, 100_000):
        hi = min(rows, lo + 100_000)
        x = centres[rng.integers(0, 2000, hi - lo)] + 0.8 * rng.standard_normal((hi - lo, dim)).astype(np.float32)
        out[lo:hi] = x / np.linalg.norm(x, axis=1, keepdims=True)


def int8_top(codes: np.ndarray, scales: np.ndarray, exact: np.memmap, q: np.ndarray, rerank: int) -> np.ndarray:
    """The exact top 10 among the approximate top ``rerank`` (ties: lower row first)."""
    approx = approximate(codes, scales, q)
    candidates = np.sort(np.argpartition(-approx, rerank - 1)[:rerank])
    scores = np.asarray(exact[candidates]) @ q
    top: np.ndarray = candidates[np.lexsort((candidates, -scores))[:10]]
    return top


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--queries", type=int, default=60)
    p.add_argument("--rerank", default="100,200,400")
    args = p.parse_args()
    console.print(machine())
    dim = 384
    with tempfile.TemporaryDirectory(prefix="bench-qscan-") as tmp:
        path = Path(tmp) / "vectors.f32"
        disk = np.memmap(path, dtype=np.float32, mode="w+", shape=(args.rows, dim))
        start = time.perf_counter()
        clustered(args.rows, dim, disk)
        disk.flush()
        codes, scales = np.empty((args.rows, dim), np.int8), np.empty(args.rows, np.float32)
        for lo in range(0, args.rows, 100_000):
            codes[lo : lo + 100_000], scales[lo : lo + 100_000] = quantize(np.asarray(disk[lo : lo + 100_000]))
        console.print(f"{args.rows:,} vectors built and quantised in {time.perf_counter() - start:.0f} s")
        rng = np.random.default_rng(11)
        picks = rng.integers(0, args.rows, args.queries)
        queries = np.asarray(disk[np.sort(picks)]) + 0.05 * rng.standard_normal((args.queries, dim)).astype(np.float32)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        dev, test = queries[: args.queries // 2], queries[args.queries // 2 :]
        exact_matrix = np.array(disk)  # the float32 variant keeps every row in memory
        mapped = np.memmap(path, dtype=np.float32, mode="r", shape=(args.rows, dim))

        def exact_top(q: np.ndarray) -> np.ndarray:
            s = (exact_matrix @ q[:, None]).ravel()
            top = np.argpartition(-s, 9)[:10]
            return top[np.argsort(-s[top])]

        truth = {i: set(exact_top(q).tolist()) for i, q in enumerate(queries)}
        report = Report(
            f"Vector scan, 100% visibility, {args.rows:,} x {dim} (test half of {args.queries} queries; "
            "re-rank depth chosen on the dev half)",
            ["variant", "split", "p50 ms", "p95 ms", "recall@10", "resident MB"],
        )

        def measure(fn: object, qs: np.ndarray, offset: int) -> tuple[float, float, float]:
            times, hits = [], 0
            for j, q in enumerate(qs):
                t = time.perf_counter()
                got = fn(q)  # type: ignore[operator]
                times.append((time.perf_counter() - t) * 1000)
                hits += len(set(got.tolist()) & truth[offset + j])
            return float(np.percentile(times, 50)), float(np.percentile(times, 95)), hits / (10 * len(qs))

        f32_mb = exact_matrix.nbytes / 2**20
        q_mb = (codes.nbytes + scales.nbytes) / 2**20
        p50, p95, rec = measure(exact_top, test, len(dev))
        report.add("float32 exact scan (naive)", "test", p50, p95, rec, f32_mb)
        chosen = None
        for depth in (int(x) for x in args.rerank.split(",")):
            p50, p95, rec = measure(lambda q, d=depth: int8_top(codes, scales, mapped, q, d), dev, 0)
            report.add(f"int8 + re-rank {depth}", "dev", p50, p95, rec, q_mb)
            if chosen is None and rec >= 0.995:
                chosen = depth
        chosen = chosen or int(args.rerank.split(",")[-1])
        p50, p95, rec = measure(lambda q: int8_top(codes, scales, mapped, q, chosen), test, len(dev))
        report.add(f"int8 + re-rank {chosen} (chosen on dev)", "test", p50, p95, rec, q_mb)
        report.print()
        out = RESULTS / "quantized-scan.md"
        out.write_text(machine() + "\n\n" + report.markdown(), encoding="utf-8")
        console.print(f"markdown table: {out}")


if __name__ == "__main__":
    main()
