"""De-obfuscated views of a text, so one set of patterns also catches disguised instructions.

Attackers disguise instructions from keyword filters with homoglyphs (Cyrillic ``а`` for Latin
``a``), leetspeak (``1gn0r3``), letter spacing (``i g n o r e``) and full-width or mathematical
letters. Each view undoes one disguise; the instruction patterns run over every view that differs
from the plain one. Homoglyphs are mapped with the Unicode confusables table shipped by the
maintained ``confusable-homoglyphs`` package (its data, turned once into a ``str.translate`` table,
because its per-character API costs ~40 µs a character, far over the screening budget).
"""

# ruff: noqa: RUF002 - the docstrings show the look-alike characters this module undoes.

from __future__ import annotations

import bisect
import re
import unicodedata
from functools import lru_cache

from confusable_homoglyphs.confusables import confusables_data

_ASCII_TARGETS = frozenset("abcdefghijklmnopqrstuvwxyz")

# Leet substitutions inside a word; "1" is ambiguous (i or l), so a second view reads it as "l".
_LEET_I = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})
_LEET_L = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})
# A leet word has a substituted symbol between two letters ("1gn0r3", "pr3v10us"); version numbers,
# "utf8" or "x86_64" do not. The whole word is then decoded.
# Only ever searched for, never substituted: the core (letter, symbols, letter) finds exactly the
# lines the whole-word form would, without the engine trying a word-length prefix at every position
# (5x cheaper on prose, where this scan runs over every document).
_LEET_WORD = re.compile(r"[a-z][013457@$!]+[a-z]", re.IGNORECASE)
# Within a line that has such a word, every token mixing letters and leet symbols is decoded ("4ll").
_LEET_TOKEN = re.compile(r"(?=[\w@$!]*[a-z])(?=[\w@$!]*[013457@$!])[\w@$!]{2,}", re.IGNORECASE)
# A two- or three-digit "word" of leet digits only ("41" for "ai"), not part of a number or version.
_LEET_NUMBER = re.compile(r"(?<![\w.,:/-])[013457]{2,3}(?![\w.,:/-]\w)")
# Characters written one at a time with a separator ("i g n o r e", "i.g.n.o.r.e", "<.t.o.o.l._.c.a.l.l.>",
# "I-n-s-t-r-u-c-t-i-o-n-:"): characters strictly alternating with one and the same separator, the
# whole white-space-delimited run. The characters between may be anything but white space
# (punctuation and markup are spaced too), so a run is undone by keeping every other character;
# two spaces are a word break. The backreference keeps ordinary punctuation out: "e-mail" or
# "--x" do not alternate. A line counts as spaced when one run holds ``SPACED_MIN`` characters,
# ``SPACED_MIN_ALNUM`` of them letters or digits (rows of dots and "=-=-=-" rules are no words);
# on such a line, shorter runs ("t.o", "a l l") are joined too.
_SPACED = re.compile(r"(?<!\S)\S([^\w\s]|_)(?:\S\1)*\S(?!\S)|(?<!\S)\S(?: \S)+(?!\S)")
SPACED_MIN_ALNUM = 3
# Cheap detectors for the same disguise, each scanned in C before any Python runs: three marks
# alternating with single letters (the scan starts on a punctuation set, so prose is skipped
# fast; equal marks and the letters around are checked in Python), or four single characters
# between single spaces. The exact run (``_SPACED``) is only matched on lines they flag.
_SPACED_BY_MARKS = re.compile(r"[^a-z0-9\s][a-z0-9][^a-z0-9\s][a-z0-9][^a-z0-9\s]", re.IGNORECASE)
_SPACED_BY_BLANKS = re.compile(r" \S \S \S \S(?!\S)")
_LINE_BREAK = re.compile("\n")


@lru_cache(maxsize=1)
def _homoglyph_table() -> dict[int, str]:
    """Every non-ASCII character confusable with a Latin letter, mapped to that letter."""
    table: dict[int, str] = {}
    for char, entries in confusables_data.items():
        target = char.lower()
        if target not in _ASCII_TARGETS:
            continue
        for entry in entries:
            glyph = entry["c"]
            if len(glyph) == 1 and not glyph.isascii():
                table[ord(glyph)] = target
    return table


def fold(text: str) -> str:
    """NFKC (full-width and mathematical letters become plain ones) and case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def skeleton(text: str) -> str:
    """Homoglyphs replaced by the Latin letters they imitate (``рlеаsе`` → ``please``)."""
    return text.translate(_homoglyph_table())


@lru_cache(maxsize=1)
def _homoglyph_chars() -> frozenset[str]:
    return frozenset(map(chr, _homoglyph_table()))


def has_homoglyphs(text: str) -> bool:
    """Whether ``text`` holds a character that imitates a Latin letter: the set of its distinct
    characters (built in C, a few dozen entries) against the look-alikes."""
    return not _homoglyph_chars().isdisjoint(set(text))


def unleet(text: str, *, one_as_l: bool = False) -> str:
    """Leet words decoded (``1gn0r3`` → ``ignore``); plain numbers are left alone, except short
    all-leet ones standing alone (``41`` → ``ai``), which views only decode on lines with leet words."""
    table = _LEET_L if one_as_l else _LEET_I
    decoded = _LEET_TOKEN.sub(lambda m: m.group(0).translate(table), text)
    return _LEET_NUMBER.sub(lambda m: m.group(0).translate(table), decoded)


def unspace(text: str) -> str:
    """Letter-spaced runs joined (``i g n o r e  a l l`` → ``ignore all``, ``<.t.o.o.l.>`` → ``<tool>``)."""
    return _SPACED.sub(_join_spaced, text)


def _join_spaced(match: re.Match[str]) -> str:
    return match.group(0)[::2]


def has_spacing(text: str) -> bool:
    """Whether ``text`` holds a run of characters spaced by one separator, long enough to be a disguise."""
    if _SPACED_BY_BLANKS.search(text):
        return True
    return any(_alternates(text, match) for match in _SPACED_BY_MARKS.finditer(text))


def _alternates(text: str, match: re.Match[str]) -> bool:
    """A mark run that is one separator between letters (``.b.c.`` in ``a.b.c.d``), not ``(-)`` punctuation."""
    run, start, end = match.group(0), match.start(), match.end()
    if not run[0] == run[2] == run[4]:
        return False
    around = (text[start - 1] if start else " ", run[1], run[3], text[end] if end < len(text) else " ")
    return sum(c.isalnum() for c in around) >= SPACED_MIN_ALNUM


def escaped_newlines(text: str) -> str:
    """Literal ``\\n`` escapes read as line breaks (a model reads a JSON-escaped prompt as lines):
    same length, so offsets into the text stay right."""
    return text.replace("\\n", " \n") if "\\n" in text else text


def views(text: str) -> list[tuple[str, str]]:
    """``(disguise, text)``: the folded text, then the disguised lines with every disguise undone.

    Only the lines that carry a disguise (and their neighbours, since an instruction may wrap) are
    de-obfuscated: technical prose is full of words like ``md5sum`` and ``l10n``, and running every
    pattern over a second copy of a whole manual would double the cost for nothing. The disguises
    are undone cumulatively (homoglyphs, then leetspeak, then letter spacing), since attackers
    combine them; the name lists the ones that changed something, for the evidence.
    """
    plain = escaped_newlines(fold(text))
    out = [("plain", plain)]
    marked = _disguised_lines(plain)
    if not marked:
        return out
    lines = plain.split("\n")
    keep = sorted({j for i in marked for j in (i - 1, i, i + 1) if 0 <= j < len(lines)})
    current = "\n".join(lines[j] for j in keep)
    steps: list[str] = []
    if not current.isascii() and has_homoglyphs(current):
        current = skeleton(current)
        steps.append("homoglyph")
    variants = [current]
    if _LEET_WORD.search(current):
        variants = [unleet(current), unleet(current, one_as_l=True)]
        steps.append("leetspeak")
    if has_spacing(current):
        variants = [unspace(v) for v in variants]
        steps.append("letter_spacing")
    if steps:
        out.extend(("+".join(steps), v) for v in variants)
    return out


def _disguised_lines(text: str) -> set[int]:
    """Indices of the lines that carry a disguise, from scans of the whole text (a scan per line
    cost more than all of them together: most documents have hundreds of lines and no disguise)."""
    found = [m.start() for m in _LEET_WORD.finditer(text)]
    found += [m.start() for m in _SPACED_BY_BLANKS.finditer(text)]
    found += [m.start() for m in _SPACED_BY_MARKS.finditer(text) if _alternates(text, m)]
    marked = set()
    if found:
        breaks = [m.start() for m in _LINE_BREAK.finditer(text)]
        marked = {bisect.bisect_left(breaks, at) for at in found}
    if not text.isascii() and has_homoglyphs(text):
        marked.update(i for i, line in enumerate(text.split("\n")) if not line.isascii() and has_homoglyphs(line))
    return marked
