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
    """A second anchor set, same syntax: when given, the rule runs only if both sets occur. Lets a
    rule anchored on a common word ("print", "your") skip the many documents without its rarer half."""
