"""Floods: many near-identical documents from one source in a short time.

Flooding a collection with near-copies of a planted passage crowds honest passages out of the
top-k. Each document gets a MinHash signature of its word 3-grams (``datasketch``); LSH bands find
earlier near-copies from the same source in the time window, in a :class:`FloodStore` shared across
processes, and the estimated Jaccard similarity confirms them. The score is the number of earlier
near-copies relative to the burst size that counts as a flood.

This is the one stateful detector: inspecting a document also remembers it (an attempt counts
toward a burst whatever the decision). Re-screening the same key replaces its earlier entry.
"""

# ruff: noqa: RUF002

from __future__ import annotations

import hashlib
import re
import time
import zlib
from collections.abc import Callable
from functools import cached_property

import numpy as np
from datasketch import MinHash, MinHashLSH

from guards.base import Finding, Verdict
from guards.poisoning.base import ScreenDocument
from guards.poisoning.flood_store import FloodStore

_WORD = re.compile(r"\w+")


class FloodDetector:
    """Near-duplicate bursts per source within ``window_seconds``.

    ``similarity`` is the Jaccard similarity of word 3-gram sets above which two documents are
    copies: 0.6, because three edited words in a 150-word page already bring two copies down to
    about 0.8 (every edit breaks three shingles), and flooding tools vary their copies.
    """

    name = "flood"
    version = "1"

    def __init__(
        self,
        store: FloodStore,
        *,
        window_seconds: float = 3600.0,
        burst: int = 5,
        similarity: float = 0.6,
        num_perm: int = 64,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.window_seconds = window_seconds
        self.burst = burst
        self.similarity = similarity
        self.num_perm = num_perm
        self.clock = clock

    @cached_property
    def _permutations(self) -> tuple[np.ndarray, np.ndarray]:
        # datasketch derives the permutations from the seed on every MinHash(); computing them once
        # halves the cost of a signature.
        perms: tuple[np.ndarray, np.ndarray] = MinHash(num_perm=self.num_perm, seed=1, scheme="affine32").permutations
        return perms

    @cached_property
    def _ranges(self) -> list[tuple[int, int]]:
        ranges: list[tuple[int, int]] = MinHashLSH(threshold=self.similarity, num_perm=self.num_perm).hashranges
        return ranges

    def signature(self, text: str) -> np.ndarray:
        """MinHash of the lower-cased word 3-grams (crc32 per shingle: 3× faster than sha1, stable across processes)."""
        words = [w.lower() for w in _WORD.findall(text)]
        shingles = {" ".join(words[i : i + 3]).encode() for i in range(max(1, len(words) - 2))}
        minhash = MinHash(
            num_perm=self.num_perm, hashfunc=zlib.crc32, permutations=self._permutations, scheme="affine32"
        )
        minhash.update_batch(list(shingles))
        values: np.ndarray = minhash.hashvalues
        return values

    def bands(self, signature: np.ndarray) -> list[str]:
        return [
            f"{i}:{hashlib.blake2b(signature[a:b].tobytes(), digest_size=12).hexdigest()}"
            for i, (a, b) in enumerate(self._ranges)
        ]

    def inspect(self, text: str) -> Verdict:
        return self.inspect_document(ScreenDocument(text=text))

    def inspect_document(self, doc: ScreenDocument) -> Verdict:
        at = doc.submitted_at if doc.submitted_at is not None else self.clock()
        source = doc.source or "anonymous"
        key = doc.key or hashlib.sha256(doc.text.encode()).hexdigest()
        signature = self.signature(doc.text)
        bands = self.bands(signature)
        earlier = self.store.candidates(source, bands, at - self.window_seconds)
        copies = [
            r.key
            for r in earlier
            if r.key != key
            and r.at <= at
            and float(np.mean(np.frombuffer(r.signature, dtype=signature.dtype) == signature)) >= self.similarity
        ]
        self.store.add(source, key, bands, signature.tobytes(), at)
        if not copies:
            return Verdict(self.name, self.version)
        minutes = self.window_seconds / 60
        finding = Finding(
            self.name,
            "near_duplicate_burst",
            round(min(1.0, len(copies) / self.burst), 4),
            evidence=f"{len(copies)} near-copies from {source[:60]} within {minutes:g} min (e.g. {copies[0][:60]})",
        )
        return Verdict(self.name, self.version, (finding,))
