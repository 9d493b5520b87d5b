"""Injected instructions: text addressed to the model, in plain sight or disguised."""

# ruff: noqa: RUF002 - the docstrings show the look-alike letters this module detects.

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from guards.base import Finding
from guards.poisoning.addressed import addressed_to_model
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
    version = "3"

    def find(self, text: str) -> Iterator[Finding]:
        seen = views(text)
        yield from self._instructions(seen)
        yield from self._addressed(seen[0][1])
        if not text.isascii():
            yield from self._mixed_script(text)

    def _addressed(self, folded: str) -> Iterator[Finding]:
        for score, start, end, cues in addressed_to_model(folded):
            yield Finding(
                self.name,
                "second_person_to_model",
                score,
                evidence=f"{cues}: {excerpt(folded, start, min(end, start + 100))}",
            )

    def _mixed_script(self, text: str) -> Iterator[Finding]:
        mixed = {w for w in _WORD.findall(text) if not w.isascii() and _is_mixed(w)}
        if len(mixed) >= MIXED_SCRIPT_WORDS:
            shown = ", ".join(sorted(mixed)[:5])
            yield Finding(self.name, "mixed_script_words", 0.75, evidence=f"{len(mixed)} words mix scripts: {shown}")
        lookalike = {w for line in text.splitlines() if not line.isascii() for w in _lookalike_words(line)}
        if len(lookalike) >= MIXED_SCRIPT_WORDS:
            shown = ", ".join(sorted(lookalike)[:5])
            yield Finding(
                self.name,
                "lookalike_letters",
                0.75,
                evidence=f"{len(lookalike)} words with look-alike letters: {shown}",
            )

    def _instructions(self, disguised: list[tuple[str, str]]) -> Iterator[Finding]:
        seen: set[tuple[str, str]] = set()
        for disguise, view in disguised:
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


def _lookalike_words(line: str) -> set[str]:
    """English-looking words with a Latin look-alike letter inside ("bypɑss", "dısable").

    Only on lines whose every non-ASCII letter is such a look-alike: Turkish, Azeri or phonetic
    text has other non-ASCII letters around its dotless i and script g, an English line written
    to dodge a filter has none.
    """
    letters = {c for c in set(line) if not c.isascii() and c.isalpha()}  # distinct characters: a line has few
    if not letters or not all(has_homoglyphs(c) and unicodedata.name(c, "").startswith("LATIN") for c in letters):
        return set()
    return {w for w in _WORD.findall(line) if not w.isascii() and sum(c.isascii() for c in w) >= 2}
