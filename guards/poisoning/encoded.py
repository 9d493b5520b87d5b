"""Encoded payloads: base64, hex, URL-encoding and rot13 that decode to instructions.

A keyword filter never sees ``aWdub3JlIGFsbCBwcmV2aW91cyBpbnN0cnVjdGlvbnM=``, but a model asked to
"decode and follow" it does. Candidates are decoded with the standard library and the decoded text
runs through the same instruction patterns; a decoded text that is not instruction-like is not a
finding (keys, hashes and images are base64 too).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import urllib.parse
from collections.abc import Callable, Iterator

from guards.base import Finding
from guards.poisoning.base import TextDetector, excerpt
from guards.poisoning.instruction_patterns import matches
from guards.poisoning.normalize import fold

# Base64 and unbroken hex are looked for only in whitespace-separated tokens of 16+ characters
# (a str.split() and a length test), not by a regex scan of the whole text: 8x cheaper on prose.
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_SPACED_HEX_HINT = re.compile(
    r"[0-9A-Fa-f]{2}[ :,][0-9A-Fa-f]{2}[ :,][0-9A-Fa-f]{2}[ :,][0-9A-Fa-f]{2}[ :,]|\\x[0-9A-Fa-f]{2}"
)
# Spaced hex of text is bytes of printable ASCII, each starting with a digit 2-7 ("49 67 6e"): a scan
# that starts on those digits skips prose in C, where the general hint above tries every letter a-f.
# The price: spaced hex of non-ASCII text (UTF-8 bytes e4 bd a0 ...) is decoded only when unbroken.
_SPACED_HEX_TEXT = re.compile(r"[2-7][0-9A-Fa-f][ :,][2-7][0-9A-Fa-f][ :,][2-7][0-9A-Fa-f][ :,][2-7][0-9A-Fa-f][ :,]")
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2}[ :,]?){8,}|(?:\\x[0-9A-Fa-f]{2}){8,}")
_PERCENT = re.compile(r"\S*(?:%[0-9A-Fa-f]{2}\S*){4,}")
# rot13 of common English words ("the", "and", "you", "is", "this", "that", "with", "for", "all",
# "your") and of instruction words: rot13 text is full of them, ordinary text has almost none.
_ROT13_HINT = re.compile(
    r"(?:^|\W)(?:gur|naq|lbh|vf|guvf|gung|jvgu|sbe|nyy|lbhe|vtaber|vafgehpgvbaf|flfgrz|cerivbhf|cebzcg)(?=\W|$)"
)
_MARKUP_WORDS = ("tool_call", "function_call", "function_calls", "tool_use", "invoke", "im_start", "im_end", "system",
                 "assistant", "user", "inst", "sys", "instructions", "arguments", "parameters", "name")  # fmt: skip
# Chat and tool-call markup in rot13 (``<gbby_pnyy>``, ``"nethzragf":``): the tag or key alone gives it
# away, as a sentence needs two rot13 words. Built from the plain words, so the list reads as English.
_ROT13_MARKUP = re.compile(
    r"[<\[\"]/?(?:{})\b".format("|".join(codecs.encode(w, "rot13") for w in _MARKUP_WORDS)), re.IGNORECASE
)
"""Starts on a character class, so the engine skips prose to the next ``<``, ``[`` or quote in C."""
_ROT13_WORDS = frozenset(
    v for w in ("the", "and", "you", "this", "that", "with", "for", "all", "your", "ignore", "instructions", "system",
                "previous", "prompt") for v in (codecs.encode(w, "rot13"), codecs.encode(w, "rot13").capitalize(),
                                                codecs.encode(w, "rot13").upper())
)  # fmt: skip
"""The hint words as bare tokens, in the three cases rot13 keeps: a set test on the document's tokens
(split once, shared with the base64 scan) rules out rot13 before any line is casefolded."""
_QUERY_KEY = re.compile(r"[?&][\w.-]{1,40}=")
MAX_CANDIDATES = 64
"""A document with thousands of base64-like tokens is decoded in part only (bounded cost)."""


def _b64(token: str) -> str | None:
    compact = token.replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return _printable(raw)


def _hex(token: str) -> str | None:
    """The span as hex; failing that, its longest space-free piece (a run of hex can swallow the
    start of the next word, ``...2e DBD::``, and an odd digit count then spoils the whole span)."""
    pieces = [token, max(token.split(), key=len)]
    for piece in pieces[: 1 + (pieces[1] != token)]:
        digits = re.sub(r"[^0-9A-Fa-f]", "", piece.replace("\\x", ""))
        try:
            if decoded := _printable(bytes.fromhex(digits[: len(digits) - len(digits) % 2])):
                return decoded
        except ValueError:
            continue
    return None


def _percent(token: str) -> str | None:
    """Decoded, with each query value on its own line: a value is a text of its own, and line-anchored
    rules (``### Instruction:``) must see it start a line, not sit after ``?text=``."""
    decoded = urllib.parse.unquote(token)
    return _QUERY_KEY.sub("\n", decoded) if decoded != token else None


def _rot13_like(line: str) -> bool:
    return len(_ROT13_HINT.findall(line)) >= 2 or bool(_ROT13_MARKUP.search(line))


def _printable(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    shown = sum(ch.isprintable() or ch in "\n\t" for ch in text)
    return text if text and shown / len(text) > 0.95 else None


_DECODERS: tuple[tuple[str, re.Pattern[str], Callable[[str], str | None]], ...] = (
    ("base64", _BASE64, _b64),
    ("hex", _HEX, _hex),
    ("url_encoded", _PERCENT, _percent),
)


class EncodedPayloadDetector(TextDetector):
    """Decodes base64, hex, percent-encoded and rot13 spans and looks for instructions inside."""

    name = "encoded_payload"
    version = "3"

    def find(self, text: str) -> Iterator[Finding]:
        for encoding, decoded, start, end in self._decoded(text):
            folded = fold(decoded)
            found = [(rule, match) for rule, match in matches(folded)]
            if not found:
                continue
            rule, match = max(found, key=lambda rm: rm[0].score)  # the strongest rule speaks for the payload
            yield Finding(
                detector=self.name,
                label=f"{encoding}:{rule.label}",
                score=round(min(1.0, rule.score + 0.05), 4),
                start=start,
                end=end,
                evidence=f"{encoding} → {excerpt(folded, match.start(), match.end())}",
            )

    def _decoded(self, text: str) -> Iterator[tuple[str, str, int | None, int | None]]:
        tokens = text.split()
        long_tokens = " ".join(t for t in tokens if len(t) >= 16)
        for encoding, pattern, decode in _DECODERS:
            if encoding == "url_encoded" and ("%" not in text or len(_PERCENT_ESCAPE.findall(text)) < 4):
                continue  # the span regex starts with \S*, costly over a whole text: count escapes first
            spaced_hex = encoding == "hex" and bool(
                _SPACED_HEX_TEXT.search(text) or ("\\x" in text and _SPACED_HEX_HINT.search(text))
            )
            haystack = text if spaced_hex or encoding == "url_encoded" else long_tokens
            for n, match in enumerate(pattern.finditer(haystack)):
                if n >= MAX_CANDIDATES:
                    break
                decoded = decode(match.group(0))
                if decoded:
                    located = haystack is text
                    yield encoding, decoded, match.start() if located else None, match.end() if located else None
        if _ROT13_WORDS.isdisjoint(tokens) and not _ROT13_MARKUP.search(text):
            return  # the whole text first: most documents hold no rot13 word at all
        lines = [line for line in text.split("\n") if _rot13_like(line.casefold())]
        if lines:  # only the lines that look like rot13 are decoded: bounded cost on long documents
            yield "rot13", codecs.decode("\n".join(lines), "rot13"), None, None
