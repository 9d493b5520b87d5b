"""Screen: the step between prepare and index where documents are judged before they become searchable.

Today no step is configured, so every document passes unchanged. The seam exists so that the
poisoning screen (quarantine: the document is recorded but never indexed) and the PII guard
(labels stored with the document) each add one ``ScreenStep`` in ``gateway.deps`` without touching
the flow. Steps see the prepared document (text and chunks); a step decides nothing about HTTP or
storage: it returns a :class:`Screened` outcome, and the flow acts on the combination.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.ingest.prepare import PreparedDocument


@dataclass(frozen=True, slots=True)
class Screened:
    """What one step concluded about one document."""

    labels: Mapping[str, Any] = field(default_factory=dict)
    """Stored with the document and in its audit row (e.g. ``{"pii": {"EMAIL_ADDRESS": 2}}``)."""
    quarantine: tuple[str, ...] = ()
    """Reasons to keep the document out of the index; any reason quarantines it."""
    verdicts: tuple[Mapping[str, Any], ...] = ()
    """Guard summaries for the audit row (``guards.base.Verdict.summary()``: name, version, counts)."""


class ScreenStep(Protocol):
    """One screening step (a poisoning screen, a PII labeller ...)."""

    @property
    def name(self) -> str: ...

    def screen(self, document: PreparedDocument, *, tenant: str) -> Screened: ...


@dataclass(frozen=True, slots=True)
class ScreenOutcome:
    """Every step's outcome, combined: labels merged by step name, reasons and verdicts concatenated."""

    labels: dict[str, Any]
    quarantine: tuple[str, ...]
    verdicts: tuple[Mapping[str, Any], ...]

    @property
    def quarantined(self) -> bool:
        return bool(self.quarantine)


def screen(document: PreparedDocument, steps: Sequence[ScreenStep], *, tenant: str) -> ScreenOutcome:
    """Run every step in order (all of them, so the audit row shows every verdict)."""
    labels: dict[str, Any] = {}
    reasons: list[str] = []
    verdicts: list[Mapping[str, Any]] = []
    for step in steps:
        result = step.screen(document, tenant=tenant)
        if result.labels:
            labels[step.name] = dict(result.labels)
        reasons.extend(f"{step.name}: {reason}" for reason in result.quarantine)
        verdicts.extend(result.verdicts)
    return ScreenOutcome(labels=labels, quarantine=tuple(reasons), verdicts=tuple(verdicts))
