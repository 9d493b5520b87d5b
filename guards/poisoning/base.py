"""What a poisoning detector reads and the small protocol every detector implements.

Detectors follow the package's :class:`guards.base.Guard` seam (``name``, ``version``,
``inspect(text) -> Verdict``) and add :meth:`DocumentDetector.inspect_document` for what plain text
cannot show: the raw bytes a person's viewer renders (HTML styles, PDF colours), the passages with
the embeddings the gateway computed for indexing, the source and the collection. Detectors only
report; :mod:`guards.poisoning.policy` decides what a set of verdicts means.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from guards.base import Finding, Guard, Verdict

FloatVector = npt.NDArray[np.float32]

EVIDENCE_CHARS = 160
"""Evidence is an excerpt for a reviewer, never the whole document."""


@dataclass(frozen=True, slots=True)
class Passage:
    """One chunk of a document as it will be indexed, with the embedding indexing computes anyway."""

    text: str
    vector: FloatVector | None = None


@dataclass(frozen=True, slots=True)
class ScreenDocument:
    """Everything the ingest flow knows about a document before it becomes searchable."""

    text: str
    """The parsed text: what the model would read."""
    raw: bytes | None = None
    """The submitted bytes (HTML, PDF ...): what a person's viewer would render."""
    mime_type: str = "text/plain"
    title: str = ""
    source: str = ""
    """Who or what submitted it (a source URI or the uploader); floods and trust are per source."""
    collection: str = ""
    scope: str = ""
    """Where collections live (the gateway's tenant): neighbours are looked up in this scope only."""
    passages: tuple[Passage, ...] = ()
    submitted_at: float | None = None
    """Seconds since the epoch; ``None`` means now (the flood window is measured in it)."""
    key: str = ""
    """A stable id for the document (tenant/document id); floods remember documents by it."""
    metadata: dict[str, str] = field(default_factory=dict)
    """Author-supplied fields a model may read (labels, PDF info, HTML meta) beyond the text."""


@runtime_checkable
class DocumentDetector(Guard, Protocol):
    """A guard that can also read the whole submitted document."""

    def inspect_document(self, doc: ScreenDocument) -> Verdict: ...


class TextDetector:
    """Base for detectors that only need text: ``inspect_document`` reads the parsed text."""

    name = "text_detector"
    version = "1"

    def inspect(self, text: str) -> Verdict:
        return self.verdict(self.find(text))

    def inspect_document(self, doc: ScreenDocument) -> Verdict:
        return self.inspect(doc.text)

    def find(self, text: str) -> Iterable[Finding]:  # pragma: no cover - overridden
        raise NotImplementedError

    def verdict(self, findings: Iterable[Finding]) -> Verdict:
        return Verdict(guard=self.name, version=self.version, findings=tuple(findings))


def excerpt(text: str, start: int = 0, end: int | None = None, *, pad: int = 30) -> str:
    """A short, single-line excerpt around ``text[start:end]`` for a reviewer."""
    end = len(text) if end is None else end
    lo, hi = max(0, start - pad), min(len(text), end + pad)
    snippet = " ".join(text[lo:hi].split())
    if len(snippet) > EVIDENCE_CHARS:
        snippet = snippet[: EVIDENCE_CHARS - 1] + "…"
    return snippet


def combined_score(findings: Iterable[Finding]) -> float:
    """Noisy-or over the strongest finding of each label: independent weak signals add up.

    One label repeated many times counts once (a long document saying "system" ten times is not ten
    signals), while two different kinds of evidence reinforce each other.
    """
    best: dict[str, float] = {}
    for f in findings:
        best[f.label] = max(best.get(f.label, 0.0), f.score)
    miss = 1.0
    for score in best.values():
        miss *= 1.0 - min(max(score, 0.0), 1.0)
    return round(1.0 - miss, 4)
