"""Injected instructions: text addressed to the model, in plain sight or disguised."""

from __future__ import annotations

from collections.abc import Iterator

from guards.base import Finding
from guards.poisoning.base import TextDetector, excerpt
from guards.poisoning.instruction_patterns import matches
from guards.poisoning.normalize import views

OBFUSCATION_BONUS = 0.05
"""A disguised instruction is more suspicious than a plain one: nobody leetspeaks by accident."""


class InstructionDetector(TextDetector):
    """Finds instruction patterns (en, de, fr, es, zh) in the text and in its de-obfuscated views.

    Each finding's label is the rule's category (``override``, ``answer_directive``,
    ``chat_template`` ...), prefixed with the disguise it hid behind (``homoglyph+leetspeak:override``)
    when it only matched after undoing one. The evidence is the matched phrase in context.
    """

    name = "instructions"
    version = "1"

    def find(self, text: str) -> Iterator[Finding]:
        seen: set[tuple[str, str]] = set()
        for disguise, view in views(text):
            for rule, match in matches(view):
                phrase = " ".join(match.group(0).split())
                if (rule.label, phrase) in seen:
                    continue
                seen.add((rule.label, phrase))
                plain = disguise == "plain"
                yield Finding(
                    detector=self.name,
                    label=rule.label if plain else f"{disguise}:{rule.label}",
                    score=rule.score if plain else min(1.0, rule.score + OBFUSCATION_BONUS),
                    start=match.start() if plain else None,
                    end=match.end() if plain else None,
                    evidence=excerpt(view, match.start(), match.end()),
                )
