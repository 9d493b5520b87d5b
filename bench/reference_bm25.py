"""A textbook Okapi BM25 (k1 = 1.2, b = 0.75) computed here, to check the engine's BM25 side.

Same texts as the engine indexes (each chunk's title and text, read back from the index's chunk
store), same analyzer (``gateway.retrieval.embedded.lexical.analyzer``: tantivy's simple
tokenizer, lowercase, English stemmer), unique query terms, Lucene's IDF
``ln(1 + (N - df + 0.5) / (df + 0.5))``, exact document lengths. A document scores as its best
chunk, as the engine's BM25 side does. No phrase clauses: the reference is plain BM25.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy import sparse

from gateway.retrieval.embedded.lexical import analyzer

K1 = 1.2
B = 0.75


class ReferenceBM25:
    """BM25 over a fixed list of (document id, text) units."""

    def __init__(self, units: Sequence[tuple[str, str]]) -> None:
        self._analyzer = analyzer()
        self.doc_of = [d for d, _ in units]
        self.vocab: dict[str, int] = {}
        rows, cols, tfs, lengths = [], [], [], []
        for i, (_, text) in enumerate(units):
            terms = self._analyzer.analyze(text)
            lengths.append(len(terms))
            for term, tf in Counter(terms).items():
                rows.append(i)
                cols.append(self.vocab.setdefault(term, len(self.vocab)))
                tfs.append(tf)
        n, avgdl = len(units), (sum(lengths) / max(1, len(units)))
        tf = np.asarray(tfs, dtype=np.float64)
        dl = np.asarray(lengths, dtype=np.float64)[rows]
        df = np.bincount(cols, minlength=len(self.vocab)).astype(np.float64)
        idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
        weight = idf[cols] * tf * (K1 + 1) / (tf + K1 * (1 - B + B * dl / avgdl))
        self.matrix = sparse.csc_matrix((weight, (rows, cols)), shape=(n, len(self.vocab)))

    def rank(self, query: str, k: int = 10) -> list[str]:
        """Document ids best first (best chunk per document), at most ``k``."""
        ids = [self.vocab[t] for t in dict.fromkeys(self._analyzer.analyze(query)) if t in self.vocab]
        if not ids:
            return []
        scores = np.asarray(self.matrix[:, ids].sum(axis=1)).ravel()
        order = np.argsort(-scores, kind="stable")
        out: list[str] = []
        for i in order:
            if scores[i] <= 0 or math.isnan(scores[i]):
                break
            if self.doc_of[i] not in out:
                out.append(self.doc_of[i])
                if len(out) == k:
                    break
        return out
