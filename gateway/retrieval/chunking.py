"""Structure-aware chunking: sections, then paragraphs, then sentences, then word windows.

A markdown heading starts a new section (and a new chunk); within a section, blank-line
paragraphs are packed into chunks of at most ``max_tokens`` estimated tokens, consecutive
chunks of a section sharing a tail of ``overlap_tokens``. A paragraph too long for one chunk is
split into sentences, a sentence too long into word windows. Words are never altered or
dropped, so every word of the input appears in some chunk, in order.

Tokens are estimated per whitespace-separated word (``estimate_tokens``); close enough to a
word-piece count to keep chunks under an embedder's input limit with the default margins.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BLANK_LINES = re.compile(r"\n\s*\n")
# A sentence ends at . ! or ? (optionally followed by up to two closing quotes/brackets) before
# whitespace. Only the whitespace is the separator: the closers stay with their sentence (an
# earlier pattern consumed them, and "(see above.) Next" lost its ")"). Python's lookbehind must be
# fixed-width, hence one per closer count; after three closers the text simply is not split there.
_CLOSER = "[\"')\\]]"
_SENTENCE_END = re.compile(rf"(?:(?<=[.!?])|(?<=[.!?]{_CLOSER})|(?<=[.!?]{_CLOSER}{{2}}))\s+")
HEADING_SEPARATOR = " > "


@dataclass(frozen=True, slots=True)
class ChunkSpan:
    """One chunk of a document's text, before embedding."""

    ordinal: int
    """Position of the chunk in the document, from 0."""
    text: str
    heading: str
    """The heading path of the chunk's section (``"Guide > Install"``), empty before any heading."""


LINE_BREAK = "\n"
PARAGRAPH_BREAK = "\n\n"
_BREAKS = frozenset({LINE_BREAK, PARAGRAPH_BREAK})


def word_tokens(word: str) -> int:
    """Estimated word pieces of one word: one per six characters, at least one (line breaks: none)."""
    if word in _BREAKS:
        return 0
    return 1 + len(word) // 6


def estimate_tokens(text: str) -> int:
    """Estimated word pieces of a text (the sum over its whitespace-separated words)."""
    return sum(word_tokens(w) for w in text.split())


def make_chunk_id(tenant: str, document_id: str, ordinal: int, text: str) -> str:
    """A chunk id that is stable across re-ingest of unchanged text.

    ``sha256(tenant \\x1f document_id \\x1f ordinal \\x1f text)``, first 32 hex digits: the same
    text at the same place of the same document keeps its id; any edit, move or other tenant
    gives a new one.
    """
    material = "\x1f".join((tenant, document_id, str(ordinal), text))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]


def chunk_title(document_title: str, heading: str) -> str:
    """The title indexed with a chunk: the document title, then the chunk's heading path."""
    if not heading:
        return document_title
    if not document_title or heading == document_title or heading.startswith(document_title + HEADING_SEPARATOR):
        return heading  # the document's own H1 already leads the heading path
    return f"{document_title}{HEADING_SEPARATOR}{heading}"


def _sections(text: str) -> Iterator[tuple[str, list[str]]]:
    """(heading path, paragraphs) per section; a heading line is its section's first paragraph."""
    path: list[tuple[int, str]] = []
    lines: list[str] = []
    heading = ""
    for line in text.splitlines():
        match = _HEADING.match(line.strip())
        if match is None:
            lines.append(line)
            continue
        yield heading, _paragraphs("\n".join(lines))
        level = len(match.group(1))
        path = [(lvl, title) for lvl, title in path if lvl < level] + [(level, match.group(2))]
        heading = HEADING_SEPARATOR.join(title for _, title in path if title)
        lines = [line.strip()]
    yield heading, _paragraphs("\n".join(lines))


def _paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, whitespace collapsed within each line, lines kept."""
    out = []
    for p in _BLANK_LINES.split(text):
        lines = [" ".join(line.split()) for line in p.splitlines()]
        if any(lines):
            out.append("\n".join(line for line in lines if line))
    return out


def _words(text: str) -> list[str]:
    """Whitespace-separated words with ``LINE_BREAK`` markers where lines end.

    Lines are kept so that list items and table rows stay separate sentences for the generator.
    """
    words: list[str] = []
    for line in text.split("\n"):
        if words:
            words.append(LINE_BREAK)
        words.extend(line.split())
    return words


def render(words: list[str]) -> str:
    """Join words with spaces; break markers become newlines (the stronger of adjacent ones wins)."""
    parts: list[str] = []
    pending = ""
    for word in words:
        if word in _BREAKS:
            if len(word) > len(pending):
                pending = word
            continue
        if parts:
            parts.append(pending or " ")
        parts.append(word)
        pending = ""
    return "".join(parts)


def _units(paragraph: str, max_tokens: int) -> Iterator[list[str]]:
    """Word lists of at most ``max_tokens``: the paragraph, else its sentences, else windows."""
    if estimate_tokens(paragraph) <= max_tokens:
        yield _words(paragraph)
        return
    for sentence in _SENTENCE_END.split(paragraph):
        words = _words(sentence)
        window: list[str] = []
        size = 0
        for word in words:
            if window and size + word_tokens(word) > max_tokens:
                yield window
                window, size = [], 0
            window.append(word)
            size += word_tokens(word)
        if window:
            yield window


def _tail(words: list[str], budget: int) -> list[str]:
    """The longest suffix of ``words`` within ``budget`` tokens."""
    size, start = 0, len(words)
    while start > 0 and size + word_tokens(words[start - 1]) <= budget:
        start -= 1
        size += word_tokens(words[start])
    while start < len(words) and words[start] in _BREAKS:
        start += 1
    return words[start:]


def _pack(paragraphs: list[str], max_tokens: int, overlap_tokens: int) -> Iterator[str]:
    """Greedy packing of a section's units into chunk texts, with overlap between them."""
    current: list[str] = []
    fresh = False  # does ``current`` hold anything beyond the overlap carried from the last chunk?
    for paragraph in paragraphs:
        for first, unit in enumerate(_units(paragraph, max_tokens)):
            size = sum(map(word_tokens, unit))
            if current and estimate_tokens(" ".join(current)) + size > max_tokens:
                if fresh:
                    yield render(current)
                overlap = _tail(current, min(overlap_tokens, max_tokens - size))
                current, fresh = list(overlap), False
                if overlap and estimate_tokens(" ".join(overlap)) + size > max_tokens:
                    current = []
            if current and first == 0:
                current.append(PARAGRAPH_BREAK)
            current.extend(unit)
            fresh = True
    if fresh:
        yield render(current)


def chunk_text(text: str, *, max_tokens: int, overlap_tokens: int) -> list[ChunkSpan]:
    """Split ``text`` into chunks of at most ``max_tokens`` estimated tokens.

    A single word longer than ``max_tokens`` becomes a chunk of its own (it is never cut).
    Empty or whitespace-only input gives no chunks. The result is a pure function of the input.
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    overlap_tokens = max(0, min(overlap_tokens, max_tokens // 2))
    spans: list[ChunkSpan] = []
    for heading, paragraphs in _sections(text):
        for chunk in _pack(paragraphs, max_tokens, overlap_tokens):
            spans.append(ChunkSpan(ordinal=len(spans), text=chunk, heading=heading))
    return spans
