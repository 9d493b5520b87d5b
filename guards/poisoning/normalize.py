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
SPACED_MIN = 4
SPACED_MIN_ALNUM = 3


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


def has_homoglyphs(text: str) -> bool:
    table = _homoglyph_table()
    return any(ord(c) in table for c in text if not c.isascii())


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
    """Whether ``text`` holds a letter-spaced run long enough to be a disguise."""
    for match in _SPACED.finditer(text):
        kept = match.group(0)[::2]
        if len(kept) >= SPACED_MIN and sum(c.isalnum() for c in kept) >= SPACED_MIN_ALNUM:
            return True
    return False


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
    if not _disguised(plain):  # one pass over the whole text first: most documents have no disguise
        return out
    lines = plain.split("\n")
    marked = [i for i, line in enumerate(lines) if _disguised(line)]
    if not marked:
        return out
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


def _disguised(line: str) -> bool:
    if not line.isascii() and has_homoglyphs(line):
        return True
    return bool(_LEET_WORD.search(line) or has_spacing(line))
