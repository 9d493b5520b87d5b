"""The retrieval-quality suite: public corpora of different kinds, each with dev and test queries.

Every corpus is built from text that ships in a Debian package (installed by ``make bench-setup``);
nothing here was written for the benchmark. A corpus is a list of documents and a list of
known-item queries (one right document each). Queries are split into ``dev`` (anything tuned is
tuned on these, pooled over all corpora) and ``test`` (reported) by a hash of the answer's
document id, so the split is stable and never depends on sampling order. The index holds every
document of the corpus for both splits.

The Python and PostgreSQL documentation are reserved for acceptance testing and never used here.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

Split = Literal["dev", "test"]
SETUP_HINT = "make bench-setup   (apt-get install the documentation packages the corpora come from)"


@dataclass(frozen=True)
class Doc:
    """One document to ingest (``text`` never contains its own query)."""

    document_id: str
    title: str
    text: str


@dataclass(frozen=True)
class Query:
    """A known-item query: its text, the one right document, the query kind and the split."""

    text: str
    answer: str
    kind: str
    split: Split


@dataclass
class Corpus:
    """A named corpus: what kind of text it is, its documents and its queries."""

    name: str
    kind: str
    source: str
    docs: list[Doc]
    queries: list[Query] = field(default_factory=list)

    def split(self, which: Split) -> list[Query]:
        return [q for q in self.queries if q.split == which]


def split_of(document_id: str, test_share: float = 0.5) -> Split:
    """``test`` for about ``test_share`` of the documents, by a stable hash of the id."""
    bucket = int(hashlib.sha256(document_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if bucket < test_share else "dev"


_UNSAFE_ID = re.compile(r"[^A-Za-z0-9._:/@-]")


def safe_id(raw: str) -> str:
    """A document id the gateway accepts."""
    return _UNSAFE_ID.sub("_", raw)[:200]


def norm(text: str) -> str:
    return " ".join(text.lower().split())


def clean(text: str) -> str:
    """Non-breaking spaces and typographic quotes as plain text; whitespace kept."""
    return text.replace("\u00a0", " ").replace("\u201c", '"').replace("\u201d", '"').replace("\u2019", "'")


def unique_pairs(pairs: Iterable[tuple[Doc, str, str]], *, min_words: int = 15) -> tuple[list[Doc], list[Query]]:
    """Documents and their queries, dropping pairs whose query is shared (two right answers) or
    whose document is too short to be a passage."""
    items = [(d, q, k) for d, q, k in pairs if len(d.text.split()) >= min_words and len(q.split()) >= 2]
    counts = Counter(norm(q) for _, q, _ in items)
    ids = Counter(d.document_id for d, _, _ in items)
    kept = [(d, q, k) for d, q, k in items if counts[norm(q)] == 1 and ids[d.document_id] == 1]
    return [d for d, _, _ in kept], [Query(q, d.document_id, k, split_of(d.document_id)) for d, q, k in kept]


def sample(items: Sequence[Doc], n: int | None, seed: int) -> list[Doc]:
    import random  # noqa: PLC0415 - only samplers need it

    if n is None or n >= len(items):
        return list(items)
    return sorted(random.Random(seed).sample(list(items), n), key=lambda d: d.document_id)
