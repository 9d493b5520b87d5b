"""Screen benchmark samples as the ingest flow would: parse the raw bytes, then run the screen."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bench.poisoning.keyword import keyword_flags
from bench.poisoning.samples import Sample
from gateway.ingest.parsers import parse_document
from guards.poisoning.base import Passage, ScreenDocument
from guards.poisoning.policy import ScreeningDecision
from guards.poisoning.screen import PoisonScreen


@dataclass(frozen=True)
class Outcome:
    sample: Sample
    flagged: bool
    keyword: bool
    seconds: float
    keyword_seconds: float
    decision: ScreeningDecision
    words: int
    cpu_seconds: float = 0.0
    """Processor time of the screen alone: on a shared machine, wall time also counts others' work."""
    keyword_cpu_seconds: float = 0.0


def document(sample: Sample, passages: tuple[Passage, ...] = (), at: float | None = None) -> ScreenDocument:
    """The ScreenDocument the ingest flow would build: parsed text + the bytes as submitted."""
    raw = sample.raw if sample.raw is not None else sample.text.encode()
    text = parse_document(raw, sample.mime_type).text if sample.raw is not None else sample.text
    return ScreenDocument(
        text=text, raw=raw, mime_type=sample.mime_type, source=sample.source, collection="bench",
        passages=passages, key=sample.doc_id, submitted_at=at, metadata=sample.metadata,
    )  # fmt: skip


def screen_one(screen: PoisonScreen, doc: ScreenDocument, sample: Sample) -> Outcome:
    start, cpu = time.perf_counter(), time.process_time()
    decision = screen.screen(doc, trust="standard")
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    keyword = keyword_flags(doc.text) or keyword_flags((doc.raw or b"").decode("utf-8", "replace"))
    keyword_seconds, keyword_cpu = time.perf_counter() - start, time.process_time() - cpu
    words = len(doc.text.split())
    return Outcome(
        sample, decision.quarantined, keyword, seconds, keyword_seconds, decision, words, cpu_seconds, keyword_cpu
    )
