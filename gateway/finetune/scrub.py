"""The seam between datasets and the PII guard: a ``Scrubber`` and what the gates learn from it.

A scrubber takes records (``{"prompt": ..., "completion": ...}``) and returns them with personal
data replaced by consistent pseudonyms, plus a report of counts. Nothing else is asked of it: what
was replaced is found by comparing a record before and after (:func:`replaced_spans`), so any
scrubber works, and whether a text holds PII is whether scrubbing changes it.
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from gateway.errors import ServiceUnavailable
from guards.pii.dataset import scrub_records
from guards.pii.engine import PiiEngine

Record = dict[str, str]
MAX_SPAN_WORDS = 6
"""The longest original value the emission gate looks for, in words (names, addresses)."""
_WORD = re.compile(r"\S+")
_EDGE = ".,;:!?\"'()[]{}<>"


@runtime_checkable
class Scrubber(Protocol):
    """Replaces personal data in records by consistent pseudonyms (same value → same pseudonym)."""

    name: str

    def scrub_records(self, records: Sequence[Record], *, seed: int) -> tuple[list[Record], dict[str, Any]]:
        """Scrubbed copies of ``records`` (same order, same keys) and a report without raw values."""
        ...


class PiiGuardScrubber:
    """The production scrubber: ``guards.pii.dataset.scrub_records`` (consistent seeded pseudonyms).

    ``engine`` is the gateway's one PII engine (``deps.provide_pii_engine``); ``None`` means the guard
    is disabled, and then nothing can be scrubbed: fail closed, there is no way round the scrub.
    """

    name = "guards.pii"

    def __init__(self, engine: PiiEngine | None) -> None:
        self.engine = engine

    def scrub_records(self, records: Sequence[Record], *, seed: int) -> tuple[list[Record], dict[str, Any]]:
        if self.engine is None:
            raise ServiceUnavailable("the PII guard is disabled (GATEWAY_PII_ENABLED): nothing can be scrubbed")
        # The guard reads chat and instruction records; ours carry named text fields (prompt/completion,
        # text), so each goes in as a chat record with one message per field and comes back the same way.
        chats = [{"messages": [{"role": k, "content": v} for k, v in r.items() if isinstance(v, str)]} for r in records]
        scrubbed, report = scrub_records(chats, engine=self.engine, seed=f"finetune:{seed}")
        out = []
        for record, chat in zip(records, scrubbed, strict=True):
            texts = {m["role"]: m["content"] for m in chat["messages"]}
            out.append({k: texts.get(k, v) for k, v in record.items()})
        return out, report.summary()


def words(text: str) -> list[str]:
    """Whitespace words without surrounding punctuation, lower-cased: how values are compared."""
    out = [w.strip(_EDGE).lower() for w in _WORD.findall(text)]
    return [w for w in out if w]


def replaced_spans(original: str, scrubbed: str) -> tuple[list[str], list[str]]:
    """(original values, pseudonyms): the word spans that differ between the two texts."""
    a, b = _WORD.findall(original), _WORD.findall(scrubbed)
    before: list[str] = []
    after: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op in ("replace", "delete") and i2 > i1:
            before.append(" ".join(a[i1:i2]))
        if op in ("replace", "insert") and j2 > j1:
            after.append(" ".join(b[j1:j2]))
    return before, after


def digest(key: bytes, value: str) -> str:
    """Keyed digest of a value, normalised like :func:`words` (the value itself is never stored)."""
    return hmac.new(key, " ".join(words(value)).encode(), hashlib.sha256).hexdigest()


def spans(text: str, longest: int = MAX_SPAN_WORDS) -> Iterator[str]:
    """Every run of 1..``longest`` words of ``text``, normalised like :func:`words`."""
    ws = words(text)
    return (" ".join(ws[i : i + n]) for n in range(1, longest + 1) for i in range(len(ws) - n + 1))


def _padded(text: str) -> str:
    """``text``'s normalised words between spaces: a span is in it iff ``f" {span} "`` is."""
    return f" {' '.join(words(text))} "


def emitted_originals(key: bytes, texts: Iterable[str], originals: set[str], known: str) -> list[list[str]]:
    """For each text, its word spans that are original values the scrubber replaced (their keyed
    digests are in ``originals``), less those the scrubbed training text ``known`` itself contains.

    The exception is for the scrubber's context-dependent decisions: spaCy tags the heading
    "Winter shutdown" as a PERSON and the scrubber replaces that "Winter", while the sentence below
    it, "closed for a winter shutdown", is kept. The adapter saw "winter" in the approved, scrubbed
    data, so copying it from a prompt is not a leak of a value only the raw data held (found by the
    gate on a real SmolLM2 adapter, session 6). A value replaced everywhere stays caught. Spans
    are local to the check and never stored or reported.
    """
    approved = _padded(known)  # once for every text: the training text is large
    return [
        [s for s in spans(text) if digest(key, s) in originals and f" {s} " not in approved] if originals else []
        for text in texts
    ]


def flagged_spans(scrubber: Scrubber, texts: Iterable[str], *, seed: int, allowed: str = "") -> list[list[str]]:
    """For each text, the spans the scrubber would replace, less pseudonyms found in ``allowed``.

    ``allowed`` is the scrubbed training text: a pseudonym the adapter learned from it is not PII.
    """
    items = list(texts)
    scrubbed, _ = scrubber.scrub_records([{"text": t} for t in items], seed=seed)
    known = _padded(allowed)
    result = []
    for text, after in zip(items, scrubbed, strict=True):
        values, _ = replaced_spans(text, after.get("text", ""))
        result.append([v for v in values if _padded(v) not in known])
    return result
