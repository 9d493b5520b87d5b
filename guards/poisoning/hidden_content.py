"""Hidden content in the submitted document: what the model would read that a person would not see.

Reads the raw HTML or PDF (:mod:`guards.poisoning.hidden_html`, :mod:`guards.poisoning.hidden_pdf`)
and scores each hiding technique by what it hides: instructions anywhere out of sight score
highest; a few words of deceptively hidden text (white on white, a 1 px font, off-screen) are
suspicious; ordinary page furniture (a ``display:none`` menu, a short comment) is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from guards.base import Finding, Verdict
from guards.poisoning.base import ScreenDocument, excerpt
from guards.poisoning.hidden_html import read_html
from guards.poisoning.hidden_pdf import read_pdf
from guards.poisoning.instruction_patterns import matches
from guards.poisoning.normalize import views

DECEPTIVE = frozenset(
    {"same_colour_as_background", "tiny_font", "off_screen", "clipped", "opacity_zero"}
    | {"white_text", "tiny_text", "off_page", "invisible_render_mode"}
)
"""Techniques with no everyday use in documents: they exist to hide text from a reader."""
DECEPTIVE_MIN_WORDS = 4
FURNITURE_WORDS = (12, 40)
"""``display:none`` and friends hide menus, dialogs and collapsed sections every day: a dozen hidden
words score 0.5 (quarantined only under the strict trust level), forty or more 0.7."""
COMMENT_MIN_WORDS = 25
SENTENCE_WORDS = 8
"""A hidden statement this long (a full sentence, not a label) is something the model is told and
the reader cannot check: menus, labels and "Quick search" boxes are not sentences."""
WEAK = 0.4
"""In text hidden by CSS, even weak instruction rules ("you must answer", "system:") count: hidden
text that speaks to a reader or a model has no innocent reason to be hidden."""
_SENTENCE = re.compile(r"(?:^|(?<=[.!?]\s))([A-Z\d][^.!?]{10,}?[.!])(?=\s|$)")
_UI = re.compile(
    r"\b(?:click|tap|press|select|close|cancel|loading|please wait|are you sure|javascript|cookies?)\b", re.I
)


STRONG = 0.7
"""Only rules at least this strong count in hidden text and metadata: a title like "sys: system
parameters" must not read as a role marker."""


def _instruction(text: str, strength: float = STRONG) -> str | None:
    """The first instruction at least ``strength`` strong, in the text or a de-obfuscated view of it
    (a letter-spaced or leetspoken instruction in an ``alt`` text or a hidden span is no less one)."""
    for _, view in views(text):
        for rule, match in matches(view):
            if rule.score >= strength:
                return excerpt(view, match.start(), match.end())
    return None


def statement_words(text: str) -> int:
    """Words in the declarative sentences of ``text``: capitalised, ending in a full stop, long
    enough to assert something, and not an interface message (dialogs and banners hide by design)."""
    found = (m.group(1) for m in _SENTENCE.finditer(" ".join(text.split())))
    return sum(n for sentence in found if (n := len(sentence.split())) >= SENTENCE_WORDS and not _UI.search(sentence))


class HiddenContentDetector:
    """CSS-hidden HTML, comments, alt text and metadata, and invisible PDF text."""

    name = "hidden_content"
    version = "3"

    def inspect(self, text: str) -> Verdict:
        """Plain text has no markup to hide in; see :class:`HiddenCharacterDetector` for characters."""
        return Verdict(self.name, self.version)

    def inspect_document(self, doc: ScreenDocument) -> Verdict:
        findings = list(self._find(doc))
        return Verdict(self.name, self.version, tuple(findings))

    def _find(self, doc: ScreenDocument) -> Iterator[Finding]:
        mime = doc.mime_type.split(";", 1)[0].strip().lower()
        readable = list(doc.metadata.values())
        if doc.raw is not None and mime in ("text/html", "application/xhtml+xml"):
            html = read_html(doc.raw)
            yield from self._hidden(html.hidden, ocr=False, revealable=html.revealable)
            yield from self._comments(html.comments)
            readable += html.attributes
        elif doc.raw is not None and mime == "application/pdf":
            pdf = read_pdf(doc.raw)
            yield from self._hidden(pdf.hidden, ocr=pdf.has_images)
            readable += pdf.metadata
        # One pass over all of them (a blank line apart, so no rule joins two values): a page has
        # hundreds of alt and title texts, and each pass has a fixed cost.
        if readable and (found := _instruction("\n\n".join(readable))):
            yield Finding(self.name, "attribute_or_metadata", 0.9, evidence=f"metadata/alt text: {found}")

    def _hidden(
        self, hidden: dict[str, list[str]], *, ocr: bool, revealable: frozenset[str] | set[str] = frozenset()
    ) -> Iterator[Finding]:
        for technique, pieces in hidden.items():
            text = " ".join(pieces)
            stated = statement_words(" ".join(p for p in pieces if p not in revealable))
            words = len(text.split())
            if technique == "invisible_render_mode" and ocr:
                yield Finding(self.name, "ocr_layer", 0.05, evidence=f"invisible text over images ({words} words)")
                continue
            if found := _instruction(text):
                score, evidence = 0.95, found
            elif found := _instruction(text, WEAK):
                score, evidence = 0.8, found
            elif technique in DECEPTIVE and words >= DECEPTIVE_MIN_WORDS:
                score, evidence = 0.8, excerpt(text)
            elif stated:
                score, evidence = 0.7, excerpt(text)
            elif words >= FURNITURE_WORDS[0]:
                score, evidence = (0.7 if words >= FURNITURE_WORDS[1] else 0.5), excerpt(text)
            else:
                score, evidence = 0.15, excerpt(text)
            yield Finding(self.name, technique, score, evidence=f"hidden ({technique}, {words} words): {evidence}")

    def _comments(self, comments: list[str]) -> Iterator[Finding]:
        if comments and (found := _instruction("\n\n".join(comments))):
            yield Finding(self.name, "html_comment", 0.9, evidence=f"comment: {found}")
            return
        prose = max(comments, key=lambda c: len(c.split()), default="")
        if len(prose.split()) >= COMMENT_MIN_WORDS:
            yield Finding(self.name, "html_comment", 0.3, evidence=f"comment: {excerpt(prose)}")
