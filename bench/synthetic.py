"""A synthetic, permission-partitioned corpus for the retrieval benchmarks.

Text: a Zipfian vocabulary (50k pseudo-words, exponent 1.1), 60-word passages, 5 chunks a document.
Access: 200 groups. Half the documents carry a document-level allow list (1-3 ``group:gNNN`` in the
ungranted collection ``shared``); the other half sit in one of 300 collections, each granted to
1-3 groups by a policy line, so both the collection-grant and the allow-list paths are exercised.
2% of documents also deny one group. A user in 5 groups sees ~5% of the chunks, a user in 1 group
~1%, and a user with a ``collection:*`` grant everything.

Vectors: random-normal, L2-normalised float32 (the worst case for ANN graphs, fine for latency), or
``HashingEmbedder`` rows (lexically meaningful, for recall realism). Every batch is generated from
its own seed, so any chunk can be regenerated without holding the corpus in memory (1M chunks).

Run ``python -m bench.synthetic`` to print the corpus statistics.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from gateway.auth.principal import Principal
from gateway.authz.filter import AclFilter
from gateway.authz.rules import PolicyRule
from gateway.authz.service import PolicyService
from gateway.deps import MODEL_PATH
from gateway.retrieval.base import Chunk
from gateway.retrieval.embed import HashingEmbedder

BATCH = 10_000
"""Chunks per generation batch (each batch has its own seed)."""
_SYLLABLES = [c + v for c in "bcdfghjklmnprstvz" for v in "aeiou"] + ["qua", "xe", "wy"]

Matrix = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class CorpusSpec:
    """The knobs of the synthetic corpus."""

    chunks: int = 100_000
    chunks_per_doc: int = 5
    vocabulary: int = 50_000
    zipf: float = 1.1
    words: int = 60
    groups: int = 200
    collections: int = 300
    dimension: int = 384
    deny_fraction: float = 0.02
    vectors: str = "random"
    """``random`` (normal, normalised) or ``hashing`` (``HashingEmbedder`` of the passage)."""
    seed: int = 7
    tenant: str = "bench"


@dataclass(frozen=True, slots=True)
class User:
    """A benchmark persona: its token groups and what it should see."""

    name: str
    groups: tuple[str, ...]
    nominal: str
    """The nominal visible share, e.g. ``5%``."""


def _word(rank: int) -> str:
    """A pronounceable, purely alphabetic word; frequent words are short."""
    n = len(_SYLLABLES)
    parts = [_SYLLABLES[rank % n]]
    rank //= n
    while rank:
        parts.append(_SYLLABLES[rank % n])
        rank //= n
    return "".join(parts)


class SyntheticCorpus:
    """Deterministic corpus; chunk ``i`` belongs to document ``i // chunks_per_doc``."""

    def __init__(self, spec: CorpusSpec) -> None:
        self.spec = spec
        self.vocab = np.array([_word(r) for r in range(spec.vocabulary)], dtype=object)
        weights = 1.0 / np.arange(1, spec.vocabulary + 1, dtype=np.float64) ** spec.zipf
        self._cdf = np.cumsum(weights / weights.sum())
        self.documents = -(-spec.chunks // spec.chunks_per_doc)
        rng = np.random.default_rng((spec.seed, 0))
        self.grants = [self._pick_groups(rng) for _ in range(spec.collections)]
        """``grants[c]``: the groups granted read on collection ``colNNN``."""
        docs = self.documents
        self.doc_style_collection = np.arange(docs) % 2 == 0
        self.doc_collection = rng.integers(0, spec.collections, docs)
        self.doc_allow = [self._pick_groups(rng) for _ in range(docs)]
        denied = rng.random(docs) < spec.deny_fraction
        deny_group = rng.integers(0, spec.groups, docs)
        self.doc_deny = [(f"group:g{deny_group[d]:03d}",) if denied[d] else () for d in range(docs)]
        self._embedder = HashingEmbedder(spec.dimension) if spec.vectors == "hashing" else None

    def _pick_groups(self, rng: np.random.Generator) -> tuple[str, ...]:
        count = int(rng.integers(1, 4))
        return tuple(f"group:g{g:03d}" for g in sorted(rng.choice(self.spec.groups, count, replace=False)))

    # -- documents and access -------------------------------------------------------------------

    def collection_of(self, doc: int) -> str:
        return f"col{self.doc_collection[doc]:03d}" if self.doc_style_collection[doc] else "shared"

    def allow_of(self, doc: int) -> tuple[str, ...]:
        return () if self.doc_style_collection[doc] else self.doc_allow[doc]

    def policy_rules(self, users: Sequence[User]) -> list[PolicyRule]:
        """Collection grants for every group, plus ``collection:*`` for the all-seeing group."""
        t = self.spec.tenant
        rules = [
            PolicyRule("p", (group, t, f"collection:col{c:03d}", "read", "allow"))
            for c, groups in enumerate(self.grants)
            for group in groups
        ]
        rules.append(PolicyRule("p", ("group:everyone", t, "collection:*", "read", "allow")))
        del users  # every persona's access follows from its groups
        return rules

    def policy_csv(self, path: Path) -> None:
        path.write_text("\n".join(str(r) for r in self.policy_rules(self.users())) + "\n", encoding="utf-8")

    def users(self) -> list[User]:
        return [
            User("u1", ("g011",), "1%"),
            User("u5", ("g011", "g047", "g093", "g138", "g172"), "5%"),
            User("u100", ("everyone",), "100%"),
        ]

    @cached_property
    def _policy(self) -> PolicyService:
        return PolicyService.from_rules(MODEL_PATH, self.policy_rules(self.users()))

    def acl_for(self, user: User) -> AclFilter:
        """The filter the gateway's Casbin compiler produces for this user."""
        return self._policy.compile_filter(Principal(user.name, self.spec.tenant, frozenset(user.groups)))

    def visible_mask(self, acl: AclFilter) -> npt.NDArray[np.bool_]:
        """Per chunk: does ``AclFilter.matches`` (the reference predicate) let it through?"""
        per_doc = np.array(
            [
                acl.matches(self.spec.tenant, self.collection_of(d), self.allow_of(d), self.doc_deny[d])
                for d in range(self.documents)
            ],
            dtype=np.bool_,
        )
        return np.repeat(per_doc, self.spec.chunks_per_doc)[: self.spec.chunks]

    # -- text and vectors -----------------------------------------------------------------------

    def _word_ids(self, batch: int) -> npt.NDArray[np.int64]:
        lo, hi = batch * BATCH, min((batch + 1) * BATCH, self.spec.chunks)
        rng = np.random.default_rng((self.spec.seed, 1, batch))
        ids: npt.NDArray[np.int64] = np.searchsorted(self._cdf, rng.random((hi - lo, self.spec.words)))
        return np.minimum(ids, self.spec.vocabulary - 1)

    def texts(self, lo: int, hi: int) -> list[str]:
        """Passages of chunks ``lo .. hi - 1``."""
        out: list[str] = []
        for batch in range(lo // BATCH, (hi - 1) // BATCH + 1):
            base = batch * BATCH
            rows = self._batch_texts(batch)
            out.extend(rows[max(lo, base) - base : min(hi, base + BATCH) - base])
        return out

    @lru_cache(maxsize=4)  # noqa: B019 - the corpus lives as long as the benchmark
    def _batch_texts(self, batch: int) -> list[str]:
        vocab = self.vocab
        return [" ".join(vocab[row]) for row in self._word_ids(batch)]

    def vectors(self, lo: int, hi: int) -> Matrix:
        """Unit vectors of chunks ``lo .. hi - 1``."""
        if self._embedder is not None:
            return self._embedder.embed(self.texts(lo, hi))
        parts = []
        for batch in range(lo // BATCH, (hi - 1) // BATCH + 1):
            base = batch * BATCH
            block = self._batch_vectors(batch)
            parts.append(block[max(lo, base) - base : min(hi, base + BATCH) - base])
        return np.concatenate(parts)

    def _batch_vectors(self, batch: int) -> Matrix:
        size = min(BATCH, self.spec.chunks - batch * BATCH)
        rng = np.random.default_rng((self.spec.seed, 2, batch))
        v = rng.standard_normal((size, self.spec.dimension), dtype=np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        return v

    def all_vectors(self) -> Matrix:
        return np.concatenate(
            [self.vectors(lo, min(lo + BATCH, self.spec.chunks)) for lo in range(0, self.spec.chunks, BATCH)]
        )

    def chunk_id(self, i: int) -> str:
        return f"c{i:07d}"

    def document_id(self, doc: int) -> str:
        return f"doc{doc:06d}"

    def items(self, first_doc: int, last_doc: int) -> list[tuple[str, str, list[Chunk]]]:
        """``replace_documents`` items for documents ``first_doc .. last_doc - 1`` (with vectors)."""
        per = self.spec.chunks_per_doc
        lo, hi = first_doc * per, min(last_doc * per, self.spec.chunks)
        texts, vectors = self.texts(lo, hi), self.vectors(lo, hi)
        out = []
        for doc in range(first_doc, last_doc):
            chunks = [
                Chunk(
                    chunk_id=self.chunk_id(i),
                    document_id=self.document_id(doc),
                    tenant=self.spec.tenant,
                    collection=self.collection_of(doc),
                    version=1,
                    ordinal=i - doc * per,
                    title=f"Document {doc}",
                    text=texts[i - lo],
                    acl_allow=self.allow_of(doc),
                    acl_deny=self.doc_deny[doc],
                    vector=vectors[i - lo],
                )
                for i in range(doc * per, min((doc + 1) * per, hi))
            ]
            out.append((self.spec.tenant, self.document_id(doc), chunks))
        return out

    def batches(self, docs_per_batch: int) -> Iterator[list[tuple[str, str, list[Chunk]]]]:
        for first in range(0, self.documents, docs_per_batch):
            yield self.items(first, min(first + docs_per_batch, self.documents))


@dataclass(frozen=True, slots=True)
class Query:
    """A query drawn from a passage: a window of its words, and a vector near the passage's."""

    source: int
    text: str
    vector: Matrix


def draw_queries(corpus: SyntheticCorpus, count: int, *, words: int = 8, seed: int = 99) -> list[Query]:
    """``count`` queries from random passages (any passage: callers don't know what they can see).

    Random vectors: the passage vector plus noise of equal norm (cosine ~0.7 to the source).
    Hashing vectors: the ``HashingEmbedder`` row of the query text, as the gateway would embed it.
    """
    rng = np.random.default_rng((corpus.spec.seed, 3, seed))
    sources = rng.choice(corpus.spec.chunks, count, replace=False)
    out = []
    embedder = corpus._embedder
    for i in sources.tolist():
        words_ = corpus.texts(i, i + 1)[0].split()
        start = int(rng.integers(0, max(1, len(words_) - words)))
        text = " ".join(words_[start : start + words])
        if embedder is not None:
            vector = embedder.embed([text])[0]
        else:
            noise = rng.standard_normal(corpus.spec.dimension).astype(np.float32)
            vector = corpus.vectors(i, i + 1)[0] + noise / np.linalg.norm(noise)
            vector /= np.linalg.norm(vector)
        out.append(Query(i, text, vector.astype(np.float32)))
    return out


SAMPLE_DOCUMENTS = Path(__file__).resolve().parent.parent / "data" / "sample" / "documents.jsonl"


def sample_passages(count: int, words: int = 60, stride: int = 4) -> list[str]:
    """Real-ish English passages: ``words``-word windows over the sample corpus (for embedding speed)."""
    texts = [json.loads(line)["text"] for line in SAMPLE_DOCUMENTS.read_text(encoding="utf-8").splitlines() if line]
    tokens = " ".join(texts).split()
    windows = [" ".join(tokens[i : i + words]) for i in range(0, max(1, len(tokens) - words), stride)]
    return [windows[i % len(windows)] for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="10k chunks")
    args = parser.parse_args()
    corpus = SyntheticCorpus(CorpusSpec(chunks=10_000 if args.quick else args.chunks))
    print(f"chunks={corpus.spec.chunks} documents={corpus.documents} vocabulary={corpus.spec.vocabulary}")
    lengths = [len(t.split()) for t in corpus.texts(0, min(1000, corpus.spec.chunks))]
    print(f"words/passage={np.mean(lengths):.0f}  sample: {corpus.texts(0, 1)[0][:100]} ...")
    for user in corpus.users():
        mask = corpus.visible_mask(corpus.acl_for(user))
        print(f"{user.name}: groups={len(user.groups)} nominal={user.nominal} visible={mask.mean():.2%}")
    styles = itertools.groupby(sorted(corpus.doc_style_collection.tolist()))
    print("documents by style:", {("collection" if k else "allow-list"): len(list(g)) for k, g in styles})


if __name__ == "__main__":
    main()
