"""What an answer looks like to its caller and to the audit: one analysis, two redactions."""

from __future__ import annotations

from dataclasses import dataclass

from guards.pii.engine import PiiEngine


@dataclass(frozen=True)
class ScrubbedText:
    """A text as the caller sees it, as the audit keeps it, and what was replaced for the caller."""

    shown: str
    audited: str
    counts: dict[str, int]
    """Entities replaced in ``shown`` per type."""
    detected: dict[str, int]
    """Entities detected per type (what the audit row replaced)."""


def scrub_for(engine: PiiEngine, text: str, *, visible: frozenset[str], audit_visible: frozenset[str]) -> ScrubbedText:
    """``text`` with what the caller may not see replaced (``<TYPE>``), and the audit's stricter copy."""
    results = engine.analyze(text)
    shown = engine.redact(text, visible=visible, results=results)
    audited = engine.redact(text, visible=audit_visible, results=results)
    return ScrubbedText(shown=shown.text, audited=audited.text, counts=shown.counts, detected=audited.counts)
