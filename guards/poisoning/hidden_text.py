"""Hidden characters: zero-width, bidi controls, Unicode tags and variation-selector smuggling.

These characters make the text a model reads differ from what a person sees: tag characters
(U+E0000–E007F) and runs of variation selectors carry whole ASCII messages invisibly ("ASCII
smuggling"), zero-width characters split words past filters or encode bits, and bidi overrides
reorder what is displayed ("Trojan Source"). The parser strips most of them from the indexed text,
so this detector reads the submitted text (``ScreenDocument.raw`` for text formats). Legitimate
uses are left alone: a joiner inside an emoji or an Indic/Persian word, tags inside a flag emoji,
marks in right-to-left text.
"""

# ruff: noqa: RUF002 - the docstrings name the invisible characters this module finds.

from __future__ import annotations

import re
from collections.abc import Iterator

from guards.base import Finding, Verdict
from guards.poisoning.base import ScreenDocument, TextDetector, excerpt

_TAG_RUN = re.compile(r"[\U000E0000-\U000E007F]{2,}")
# A subdivision flag (England: black flag + "gbeng" in tags + cancel tag) is the one legitimate use.
_FLAG = re.compile(r"\U0001F3F4[\U000E0020-\U000E007E]{1,7}\U000E007F")
# Runs of variation selectors beyond the one an emoji takes (VS16) carry bytes (emoji smuggling).
_VS_RUN = re.compile(r"[\uFE00-\uFE0F\U000E0100-\U000E01EF]{3,}")
_ZERO_WIDTH = re.compile(
    "[\u200b\u2060\u2061\u2062\u2063\u2064\u180e\u034f\u115f\u1160\u3164\uffa0]"
    "|(?<=[A-Za-z0-9])[\u200c\u200d](?=[A-Za-z0-9])|(?<=.)\ufeff"
)
_ZW_RUN = re.compile("[\u200b-\u200d\u2060-\u2064\ufeff]{3,}")
_OVERRIDE = re.compile("[\u202d\u202e]")
_EMBED_ISOLATE = re.compile("[\u202a\u202b\u202c\u2066-\u2069]")
_RTL_LETTERS = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u180e\U000e0000-\U000e007f\ufe00-\ufe0f]")
# Every character any check below looks at: one character-class scan rules out clean text fast.
_ANY = re.compile(
    "[\u034f\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2069\u3164\ufe00-\ufe0f\ufeff\uffa0"
    "\U000e0000-\U000e007f\U000e0100-\U000e01ef]"
)
_TEXT_TYPES = ("text/", "application/xhtml", "application/json", "application/xml")


def visible(text: str) -> str:
    """The text with every invisible character shown as ``⟨U+XXXX⟩`` (tags as their ASCII letter)."""

    def show(match: re.Match[str]) -> str:
        cp = ord(match.group(0))
        if 0xE0020 <= cp <= 0xE007E:
            return f"⟨tag {chr(cp - 0xE0000)}⟩"
        return f"⟨U+{cp:04X}⟩"

    return _INVISIBLE.sub(show, text)


def decode_tags(run: str) -> str:
    return "".join(chr(ord(c) - 0xE0000) for c in run if 0xE0020 <= ord(c) <= 0xE007E)


class HiddenCharacterDetector(TextDetector):
    """Scores invisible characters by kind and amount; evidence shows them made visible."""

    name = "hidden_characters"
    version = "1"

    def inspect_document(self, doc: ScreenDocument) -> Verdict:
        text = doc.text
        if doc.raw is not None and doc.mime_type.startswith(_TEXT_TYPES):
            text = doc.raw.decode("utf-8", errors="replace")
        return self.inspect(text)

    def find(self, text: str) -> Iterator[Finding]:
        if not _ANY.search(text):
            return
        flagless = _FLAG.sub(lambda m: " " * len(m.group(0)), text)  # same length: offsets still hold
        for m in _TAG_RUN.finditer(flagless):
            yield self._finding("tag_characters", 0.95, text, m, f"tags decode to: {decode_tags(m.group(0))[:80]!r}")
            break
        for m in _VS_RUN.finditer(text):
            yield self._finding("variation_selector_run", 0.9, text, m, visible(excerpt(text, m.start(), m.end())))
            break
        yield from self._bidi(text)
        yield from self._zero_width(text)

    def _bidi(self, text: str) -> Iterator[Finding]:
        override = _OVERRIDE.search(text)
        if override:
            yield self._finding("bidi_override", 0.9, text, override, visible(excerpt(text, override.start())))
        embed = _EMBED_ISOLATE.search(text)
        if embed and not _RTL_LETTERS.search(text):
            # Embeddings and isolates have no job in text without right-to-left script.
            yield self._finding("bidi_control", 0.8, text, embed, visible(excerpt(text, embed.start())))

    def _zero_width(self, text: str) -> Iterator[Finding]:
        hits = list(_ZERO_WIDTH.finditer(text))
        run = _ZW_RUN.search(text)
        if not hits and not run:
            return
        first = run or hits[0]
        inside = sum(1 for h in hits if _between_letters(text, h.start(), h.end()))
        if run or len(hits) >= 8:
            score = 0.95  # encoded bits, or many word-splitting characters
        elif inside >= 3:
            score = 0.85  # words split so that a filter does not recognise them
        elif len(hits) >= 3:
            score = 0.6
        else:
            score = 0.25  # one or two are usually copy-paste residue
        evidence = f"{len(hits)} zero-width: {visible(excerpt(text, first.start(), first.end()))}"
        yield self._finding("zero_width", score, text, first, evidence)

    def _finding(self, label: str, score: float, text: str, m: re.Match[str], evidence: str) -> Finding:
        return Finding(self.name, label, score, m.start(), m.end(), evidence[:200])


def _between_letters(text: str, start: int, end: int) -> bool:
    return start > 0 and end < len(text) and text[start - 1].isalpha() and text[end].isalpha()
