"""The shape every pattern recognizer here shares: entity, patterns and context as class attributes."""

from __future__ import annotations

from typing import Any, ClassVar

import regex
from presidio_analyzer import Pattern, PatternRecognizer


class PiiPatternRecognizer(PatternRecognizer):
    """A Presidio ``PatternRecognizer`` configured by class attributes.

    Class names differ from Presidio's own recognizers on purpose: Presidio's registry loader finds
    its predefined recognizers by class name among all subclasses, and a clash would replace them.

    Subclasses set ``ENTITY``, ``PATTERNS`` and ``CONTEXT`` and may override ``validate_result``
    (``True``: raise the score to the maximum, ``False``: drop the match, ``None``: keep the score).
    """

    ENTITY: ClassVar[str]
    PATTERNS: ClassVar[tuple[Pattern, ...]]
    CONTEXT: ClassVar[tuple[str, ...]] = ()
    REQUIRES: ClassVar[tuple[str, ...]] = ()
    """Lower-case substrings one of which a text must contain before the patterns run (a cheap
    pre-filter: look-behind patterns cost a scan at every position)."""

    def __init__(self, supported_language: str = "en", *, patterns: tuple[Pattern, ...] | None = None) -> None:
        super().__init__(
            supported_entity=self.ENTITY,
            name=type(self).__name__,
            patterns=list(self.PATTERNS if patterns is None else patterns),
            context=list(self.CONTEXT),
            supported_language=supported_language,
            # Presidio's default adds IGNORECASE: case carries meaning here (IBAN country codes, NINO letters).
            global_regex_flags=regex.DOTALL | regex.MULTILINE,
        )

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None, regex_flags: Any = None) -> Any:
        if self.REQUIRES:
            lowered = text.lower()
            if not any(needle in lowered for needle in self.REQUIRES):
                return []
        return super().analyze(text, entities, nlp_artifacts, regex_flags)


def digits(text: str) -> str:
    """The decimal digits of ``text`` (separators dropped)."""
    return "".join(c for c in text if c.isdigit())


def luhn_ok(number: str) -> bool:
    """The Luhn (mod 10) check used by card numbers and Canadian SINs."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0
