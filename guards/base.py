"""The guard seam: detection apart from action.

A guard *inspects* text and reports what it found (a :class:`Verdict` of :class:`Finding`s); it
never decides what happens next. The gateway's pipeline and ingest flow decide what a verdict
means for a role or a collection (scrub, drop, quarantine, allow) and record the guard's name and
version with the outcome in the audit row. This package imports nothing from ``gateway``: what a
guard needs from the product (embeddings, trusted passages, policy values) is passed in as plain
values or through small protocols defined next to the guard.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a detector or recognizer found in a text.

    ``evidence`` is a short excerpt safe to store and show an administrator: never a raw PII value
    (PII findings leave it empty or masked).
    """

    detector: str
    """What found it: a recognizer or detector name (``EmailRecognizer``, ``hidden_text`` ...)."""
    label: str
    """What was found: an entity type (``EMAIL_ADDRESS``) or a category (``zero_width``)."""
    score: float
    """Confidence in [0, 1]."""
    start: int | None = None
    end: int | None = None
    evidence: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one guard found in one text."""

    guard: str
    version: str
    findings: tuple[Finding, ...] = ()

    @property
    def flagged(self) -> bool:
        return bool(self.findings)

    def counts(self) -> dict[str, int]:
        """Findings per label, for metrics and the audit row."""
        return dict(sorted(Counter(f.label for f in self.findings).items()))

    def summary(self) -> dict[str, Any]:
        """The audit row's view of this verdict: guard, version, counts and the top score; no text."""
        return {
            "guard": self.guard,
            "version": self.version,
            "counts": self.counts(),
            "max_score": round(max((f.score for f in self.findings), default=0.0), 4),
        }


@runtime_checkable
class Guard(Protocol):
    """A detector over text. Implementations are pure: same text and settings, same verdict."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    def inspect(self, text: str) -> Verdict: ...
