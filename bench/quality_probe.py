"""Why hybrid RRF barely beats dense-only on the man-page descriptions: a fusion-parameter probe.

Ingests a smaller sample (default 600 pages) and re-fuses the ``lexical_search`` /
``vector_search`` candidate lists offline at several candidate counts, RRF rank constants and
BM25 weights. Same corpus, ACL filter and fusion code as ``bench.quality``.

    python -m bench.quality_probe --pages 600
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.quality import OUT, direct_candidates, docs, ranks
from bench.quality_corpus import load_pages
from bench.quality_eval import description_queries, scores
from bench.quality_http import ingest, start_services
from gateway.retrieval.base import FusionConfig
from gateway.retrieval.fusion import fuse


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=600)
    parser.add_argument("--max-chunks", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20240611)
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory(prefix="gateway-probe-") as tmp:
        services = start_services(Path(tmp))
        c = services.settings.chunking
        pages, _ = load_pages(
            args.pages,
            seed=args.seed,
            cache=OUT / "render",
            max_chunks=args.max_chunks,
            max_tokens=c.max_tokens,
            overlap=c.overlap_tokens,
        )
        seconds, chunks = ingest(services, pages)
        print(f"{len(pages)} pages, {chunks} chunks, ingest {seconds:.0f} s")
        queries = description_queries(pages)
        print("| candidates | BM25 | dense | RRF k=60 | RRF k=10 | weighted 0.3 | weighted 0.5 |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for n in (10, 20, 50, 100):
            cands = direct_candidates(services, queries, FusionConfig(candidates=n))
            cells = [
                ranks(queries, [docs(x.lexical) for x in cands]),
                ranks(queries, [docs(x.vector) for x in cands]),
            ]
            for config in (
                FusionConfig(rank_constant=60),
                FusionConfig(rank_constant=10),
                FusionConfig(method="weighted", lexical_weight=0.3),
                FusionConfig(method="weighted", lexical_weight=0.5),
            ):
                cells.append(ranks(queries, [docs(fuse(x.lexical, x.vector, config)) for x in cands]))
            print(f"| {n} | " + " | ".join(f"{scores(r).mrr10:.3f}" for r in cells) + " |")
        services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
