"""The second line: a cheap re-screen of retrieved passages before any generator sees them.

Documents were screened at ingest, but detectors improve and old documents predate them. At query
time only the cheap checks run (hidden characters and instruction patterns: ~0.3 ms per 200-word
chunk); a passage whose score crosses the threshold is dropped by the pipeline and recorded in
the audit row's guard outcomes.
"""

from __future__ import annotations

from guards.base import Verdict
from guards.poisoning.base import TextDetector, combined_score
from guards.poisoning.hidden_text import HiddenCharacterDetector
from guards.poisoning.instructions import InstructionDetector

RESCREEN_THRESHOLD = 0.7
"""The same default as the ingest policy's instruction threshold."""


class PassageRescreen(TextDetector):
    """Hidden characters + instruction patterns over one retrieved passage, as a single guard."""

    name = "rescreen"
    version = "1"

    def __init__(self, threshold: float = RESCREEN_THRESHOLD) -> None:
        self.threshold = threshold
        self._parts = (InstructionDetector(), HiddenCharacterDetector())

    def inspect(self, text: str) -> Verdict:
        findings = tuple(f for part in self._parts for f in part.find(text))
        return Verdict(self.name, self.version, findings)

    def flags(self, verdict: Verdict) -> bool:
        """Whether the pipeline should drop the passage this verdict is about."""
        return bool(verdict.findings) and combined_score(verdict.findings) >= self.threshold


def rescreen_passage(text: str, *, threshold: float = RESCREEN_THRESHOLD) -> tuple[bool, Verdict]:
    """``(drop, verdict)`` for one retrieved passage."""
    guard = PassageRescreen(threshold)
    verdict = guard.inspect(text)
    return guard.flags(verdict), verdict
