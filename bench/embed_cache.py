"""An ``Embedder`` that remembers: vectors cached on disk by (model, sha256 of the exact text).

The machine is shared and embedding a corpus costs minutes of CPU, so the quality suite embeds
each text once: reruns (other fusion settings, other splits) read ``bench/out/embeddings.sqlite3``.
The cache is keyed by model id and text, so a different model or any change to the embedded text
(title, chunking) misses and is embedded afresh.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gateway.retrieval.base import Vector
from gateway.retrieval.embed import Embedder


class CachedEmbedder:
    """Wraps an embedder; same ``model_id`` and ``dimension``, so the index cannot tell."""

    def __init__(self, inner: Embedder, path: Path) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dimension = inner.dimension
        self.computed = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS v (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.model_id}\x1f{text}".encode()).hexdigest()

    def embed(self, texts: Sequence[str]) -> Vector:
        keys = [self._key(t) for t in texts]
        found: dict[str, bytes] = {}
        for lo in range(0, len(keys), 500):
            part = keys[lo : lo + 500]
            marks = ",".join("?" * len(part))
            found.update(self._db.execute(f"SELECT key, vector FROM v WHERE key IN ({marks})", part).fetchall())
        missing = sorted({i for i, k in enumerate(keys) if k not in found}, key=lambda i: keys[i])
        unique = list(dict.fromkeys(keys[i] for i in missing))
        if unique:
            first = {keys[i]: i for i in missing}
            vectors = self.inner.embed([texts[first[k]] for k in unique])
            rows = [(k, vectors[j].astype(np.float32).tobytes()) for j, k in enumerate(unique)]
            self._db.executemany("INSERT OR REPLACE INTO v (key, vector) VALUES (?, ?)", rows)
            self._db.commit()
            found.update(rows)
            self.computed += len(unique)
        return (
            np.stack([np.frombuffer(found[k], dtype=np.float32) for k in keys])
            if keys
            else np.empty((0, self.dimension), dtype=np.float32)
        )
