"""Injected instructions: text addressed to the model, in plain sight or disguised."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from guards.base import Finding
from guards.poisoning.base import TextDetector, excerpt
from guards.poisoning.instruction_patterns import matches
from guards.poisoning.normalize import has_homoglyphs, views

OBFUSCATION_BONUS = 0.05
"""A disguised instruction is more suspicious than a plain one: nobody leetspeaks by accident."""
MIXED_SCRIPT_WORDS = 2
"""Latin words with Cyrillic or Greek letters inside: ordinary text in any language has none."""
_WORD = re.compile(r"[^\W\d_]{3,}")


class InstructionDetector(TextDetector):
    """Finds instruction patterns (en, de, fr, es, zh) in the text and in its de-obfuscated views.

    Each finding's label is the rule's category (``override``, ``answer_directive``,
    ``chat_template`` ...), prefixed with the disguise it hid behind (``homoglyph+leetspeak:override``)
    when it only matched after undoing one. The evidence is the matched phrase in context.
    """

    name = "instructions"
    version = "1"

    def find(self, text: str) -> Iterator[Finding]:
        yield from self._instructions(text)
        if not text.isascii():
            yield from self._mixed_script(text)

    def _mixed_script(self, text: str) -> Iterator[Finding]:
        mixed = {w for w in _WORD.findall(text) if not w.isascii() and _is_mixed(w)}
        if len(mixed) >= MIXED_SCRIPT_WORDS:
            shown = ", ".join(sorted(mixed)[:5])
            yield Finding(self.name, "mixed_script_words", 0.75, evidence=f"{len(mixed)} words mix scripts: {shown}")

    def _instructions(self, text: str) -> Iterator[Finding]:
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
                    score=rule.score if plain else round(min(1.0, rule.score + OBFUSCATION_BONUS), 4),
                    start=match.start() if plain else None,
                    end=match.end() if plain else None,
                    evidence=excerpt(view, match.start(), match.end()),
                )


def _is_mixed(word: str) -> bool:
    """Latin letters together with a look-alike from another script (a Cyrillic a in "password")."""
    latin = any(c.isascii() for c in word)
    return latin and has_homoglyphs(word) and any(not unicodedata.name(c, "LATIN").startswith("LATIN") for c in word)
