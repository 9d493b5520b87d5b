"""One instruction pattern: the row type of the rule tables (:mod:`guards.poisoning.instruction_patterns`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rule:
    """One instruction pattern."""

    label: str
    score: float
    anchors: str
    """When at least one of these ``|``-separated words occurs (a trailing ``*``: a word starting so;
    anything not a plain word: a substring), the pattern can match; otherwise its regex is skipped.
    Each regex pass costs ~0.2 ms per 1,000 words, and the budget for all screening is 10 ms."""
    pattern: str
    language: str = "en"
    also: str = ""
    """More anchor sets, same syntax, separated by ``;``: when given, the rule runs only if every set
    occurs. Lets a rule anchored on a common word ("print", "your") skip the many documents without
    its rarer half."""
    near: str = ""
    """``|``-separated literals (in the case-folded text): when given, the regex runs only on windows
    around their occurrences (:data:`NEAR_BEFORE` characters before, :data:`NEAR_AFTER` after), not
    over the whole text. For rules whose match holds a rare head word after a long alternation of
    common ones ("print ... your system prompt"): the regex engine has no literal to scan for, and
    trying every verb at every position of a manual cost ~0.6 ms per 1,000 words per rule."""


NEAR_BEFORE = 130
"""The longest stretch a ``near`` rule's match reaches before its head word (verb, 60-character gap,
qualifiers)."""
NEAR_AFTER = 120
"""The longest stretch after it (an override's object with its qualifiers and word gaps, a question's
tail up to its question mark)."""
