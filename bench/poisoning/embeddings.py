"""Embeddings for the planted-answer benchmark, computed once with the product's embedder and cached."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from rich.progress import track

from gateway.retrieval.embed import TransformersEmbedder

CACHE = Path(__file__).resolve().parents[1] / "out" / "embeddings"


def embed_all(texts: list[str]) -> np.ndarray:
    """One L2-normalised row per text (MiniLM, as indexing computes them); cached by text hash."""
    CACHE.mkdir(parents=True, exist_ok=True)
    keys = [hashlib.sha256(t.encode()).hexdigest()[:32] for t in texts]
    missing = [i for i, k in enumerate(keys) if not (CACHE / f"{k}.npy").exists()]
    if missing:
        embedder = TransformersEmbedder()
        for start in track(range(0, len(missing), 64), description="embedding passages"):
            batch = missing[start : start + 64]
            for i, row in zip(batch, embedder.embed([texts[i] for i in batch]), strict=True):
                np.save(CACHE / f"{keys[i]}.npy", row)
    return np.stack([np.load(CACHE / f"{k}.npy") for k in keys]).astype(np.float32)
