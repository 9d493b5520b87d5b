"""The lexical engine choice: SQLite FTS5 (ACL as tokens in a second FTS column) vs tantivy (term-set filter).

Both index the same synthetic passages and answer the same queries with BM25 and the same ACL
predicate inside the query (top 50, as the hybrid search asks for). The tantivy side is the
gateway's own ``LexicalIndex`` (schema, analyzer, filter query), used standalone so that neither
side pays for fetching texts; the FTS5 side uses the ``porter unicode61`` tokenizer.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.common import percentiles
from bench.synthetic import Query, SyntheticCorpus
from gateway.authz.filter import AclFilter
from gateway.retrieval.base import Chunk
from gateway.retrieval.embedded.lexical import LexicalIndex, analyzer

LIMIT = 50


def _acl_tokens(chunk: Chunk) -> str:
    """``t<tenant>`` always; ``c<collection>``; ``a<group>`` per allow entry; ``d<group>`` per deny entry."""
    parts = [f"t{chunk.tenant}", f"c{chunk.collection}"]
    parts += [f"a{p.split(':', 1)[1]}" for p in chunk.acl_allow]
    parts += [f"d{p.split(':', 1)[1]}" for p in chunk.acl_deny]
    return " ".join(parts)


class Fts5Engine:
    """BM25 over (title, text) with the ACL as tokens in a third, zero-weighted column."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(title, text, acl, tokenize='porter unicode61')"
        )

    def add(self, rows: Sequence[tuple[int, Chunk]]) -> None:
        self.db.execute("BEGIN")
        self.db.executemany(
            "INSERT INTO fts (rowid, title, text, acl) VALUES (?, ?, ?, ?)",
            [(row, c.title, c.text, _acl_tokens(c)) for row, c in rows],
        )
        self.db.execute("COMMIT")

    @staticmethod
    def match(text: str, acl: AclFilter) -> str:
        words = list(dict.fromkeys(text.split()))
        parts = ["{title text} : (" + " OR ".join(f'"{w}"' for w in words) + ")", f'acl : "t{acl.tenant}"']
        groups = [p.split(":", 1)[1] for p in sorted(acl.principals) if p.startswith("group:")]
        if acl.allowed_collections is not None:
            access = [f'"c{c}"' for c in sorted(acl.allowed_collections)] + [f'"a{g}"' for g in groups]
            parts.append("acl : (" + " OR ".join(access) + ")")
        expr = " AND ".join(parts)
        denied = [f'"d{g}"' for g in groups] + [f'"c{c}"' for c in sorted(acl.denied_collections)]
        return expr + (" NOT acl : (" + " OR ".join(denied) + ")" if denied else "")

    def search(self, text: str, acl: AclFilter) -> list[int]:
        cur = self.db.execute(
            "SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY bm25(fts, 2.0, 1.0, 0.0) LIMIT ?",
            (self.match(text, acl), LIMIT),
        )
        return [r[0] for r in cur]


class TantivyEngine:
    """The gateway's lexical index, standalone."""

    def __init__(self, path: Path) -> None:
        self.index = LexicalIndex(path)
        self.index.open("0")
        self.analyzer = analyzer()
        self.searcher = None

    def add(self, rows: Sequence[tuple[int, Chunk]]) -> None:
        self.index.apply((), rows)

    def finish(self) -> None:
        self.searcher = self.index.searcher()

    def search(self, text: str, acl: AclFilter) -> list[int]:
        terms = list(dict.fromkeys(self.analyzer.analyze(text)))
        query, flt = self.index.text_query(terms), self.index.acl_query(acl, None)
        if query is None or flt is None:
            return []
        return [row for row, _ in LexicalIndex.search(self.searcher, query, flt, LIMIT)]


def build(corpus: SyntheticCorpus, directory: Path) -> tuple[Fts5Engine, TantivyEngine, dict[str, float]]:
    """Index the corpus in both engines; returns build seconds per engine."""
    directory.mkdir(parents=True, exist_ok=True)
    fts, tan = Fts5Engine(directory / "fts5.sqlite3"), TantivyEngine(directory / "tantivy")
    spent = {"fts5": 0.0, "tantivy": 0.0}
    for batch in corpus.batches(2_000):
        rows = [(int(c.chunk_id[1:]), c) for _, _, chunks in batch for c in chunks]
        for name, engine in (("fts5", fts), ("tantivy", tan)):
            start = time.perf_counter()
            engine.add(rows)
            spent[name] += time.perf_counter() - start
    tan.finish()
    return fts, tan, spent


def compare(
    fts: Fts5Engine,
    tan: TantivyEngine,
    acl: AclFilter,
    mask: np.ndarray,
    queries: Sequence[Query],
    rounds: int,
) -> dict[str, object]:
    """Latencies of both engines on the same queries, the top-10 overlap and a leak check."""
    times: dict[str, list[float]] = {"fts5": [], "tantivy": []}
    overlap, leaks = [], 0
    for q in queries[:5]:  # warm-up
        fts.search(q.text, acl), tan.search(q.text, acl)
    for _ in range(rounds):
        for q in queries:
            results = {}
            for name, engine in (("fts5", fts), ("tantivy", tan)):
                start = time.perf_counter()
                results[name] = engine.search(q.text, acl)
                times[name].append((time.perf_counter() - start) * 1000)
            leaks += sum(not mask[r] for rows in results.values() for r in rows)
            a, b = set(results["fts5"][:10]), set(results["tantivy"][:10])
            overlap.append(len(a & b) / max(1, min(10, len(a), len(b))) if a or b else 1.0)
    return {
        "fts5": percentiles(times["fts5"]),
        "tantivy": percentiles(times["tantivy"]),
        "overlap": float(np.mean(overlap)),
        "leaks": leaks,
    }
