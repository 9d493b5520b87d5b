"""Man pages: NAME description -> page, and identifier queries (page names, long options, constants).

Rendering, sampling and the removal of the description from the indexed text are in
``bench.quality_corpus`` (unchanged from the first man-page benchmark); the identifier queries
in ``bench.quality_eval``. Both query sets share one index.
"""

from __future__ import annotations

from bench.corpora import Corpus, Doc, Query, split_of
from bench.quality_corpus import load_pages, page_files
from bench.quality_eval import identifier_queries

MIN_PAGES = 100


def available() -> bool:
    return sum(len(v) for v in page_files().values()) >= MIN_PAGES


def load(pages: int, *, seed: int, cache_dir: object, per_kind: int, max_tokens: int, overlap: int) -> Corpus:
    from pathlib import Path  # noqa: PLC0415

    found, _ = load_pages(
        pages, seed=seed, cache=Path(str(cache_dir)), max_chunks=2, max_tokens=max_tokens, overlap=overlap
    )
    docs = [Doc(p.document_id, p.title, p.text) for p in found]
    queries = [Query(p.description, p.document_id, "description", split_of(p.document_id)) for p in found]
    for q in identifier_queries(found, per_kind, seed):
        queries.append(Query(q.text, q.answer, q.kind, split_of(q.answer)))
    return Corpus(
        "man", "man page description -> page; identifiers", "manpages, manpages-dev, installed pages", docs, queries
    )
