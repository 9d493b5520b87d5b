"""Pseudonymise fine-tuning datasets: chat (``{"messages": [{"role", "content"}]}``) and instruction
(``{"instruction", "input", "output"}``) records, one output record per input record, in order.

``scrub_records`` is the public entry point (the fine-tuning engine calls it). Every detected entity
becomes a consistent Faker surrogate (secrets become typed placeholders); the report counts what
was replaced, keeps a few samples *without raw values*, and re-scans the output at a lower threshold
for residual PII outside the surrogates.
"""

from __future__ import annotations

import copy
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from presidio_analyzer import RecognizerResult
from presidio_anonymizer.entities import OperatorConfig

from guards.pii.engine import PiiEngine, consistent_names, name_parts, resolve
from guards.pii.pseudonyms import Pseudonymizer

INSTRUCTION_FIELDS = ("instruction", "input", "output")
RESIDUAL_THRESHOLD = 0.3
"""The re-scan looks harder than the scrub: candidates down to this score count as residual PII."""


@dataclass
class ScrubReport:
    """What a scrub did. Holds no raw value unless ``mapping`` was asked for (then encrypt it)."""

    records: int = 0
    texts: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    samples: list[dict[str, Any]] = field(default_factory=list)
    """A few replacements: record, field, entity type and the surrogate (never the original)."""
    residual_texts: int = 0
    residual_counts: Counter[str] = field(default_factory=Counter)
    mapping: dict[str, dict[str, str]] | None = None
    """entity type → original → surrogate; only with ``keep_mapping=True``."""

    @property
    def residual_rate(self) -> float:
        return self.residual_texts / self.texts if self.texts else 0.0

    def merge(self, other: ScrubReport, *, max_samples: int = 20) -> None:
        """Add ``other`` (a batch scrubbed elsewhere, e.g. in a worker process) to this report."""
        self.records += other.records
        self.texts += other.texts
        self.counts.update(other.counts)
        self.samples.extend(other.samples[: max(0, max_samples - len(self.samples))])
        self.residual_texts += other.residual_texts
        self.residual_counts.update(other.residual_counts)
        if other.mapping is not None:
            self.mapping = self.mapping or {}
            for entity, pairs in other.mapping.items():
                self.mapping.setdefault(entity, {}).update(pairs)

    def summary(self) -> dict[str, Any]:
        """The report as plain data (what ``gateway dataset scrub`` writes next to the output)."""
        return {
            "records": self.records,
            "texts": self.texts,
            "counts": dict(sorted(self.counts.items())),
            "samples": self.samples,
            "residual_texts": self.residual_texts,
            "residual_rate": round(self.residual_rate, 6),
            "residual_counts": dict(sorted(self.residual_counts.items())),
        }


def text_slots(record: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """The (path, text) pairs of a record that are scrubbed; refuses a record of neither format."""
    if isinstance(record.get("messages"), list):
        return [(("messages", i, "content"), m["content"]) for i, m in enumerate(record["messages"])
                if isinstance(m, dict) and isinstance(m.get("content"), str)]  # fmt: skip
    slots: list[tuple[tuple[str | int, ...], str]] = [
        ((name,), record[name]) for name in INSTRUCTION_FIELDS if isinstance(record.get(name), str)
    ]
    if not slots:
        raise ValueError("neither a chat record (messages) nor an instruction record (instruction/input/output)")
    return slots


def _put(record: dict[str, Any], path: tuple[str | int, ...], value: str) -> None:
    target: Any = record
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


def scrub_records(
    records: Iterable[dict[str, Any]],
    *,
    engine: PiiEngine,
    seed: str,
    keep_mapping: bool = False,
    max_samples: int = 20,
    batch_size: int = 32,
    residual_scan: bool = True,
) -> tuple[list[dict[str, Any]], ScrubReport]:
    """Pseudonymise ``records`` (chat or instruction format); returns new records and the report."""
    out = [copy.deepcopy(r) for r in records]
    slots = [(i, path, text) for i, r in enumerate(out) for path, text in text_slots(r)]
    report = ScrubReport(records=len(out), texts=len(slots), mapping={} if keep_mapping else None)
    pseudonyms = Pseudonymizer(seed)
    sampler = random.Random(seed)  # noqa: S311 - choosing samples, not secrets
    found = engine.analyze_many([text for _, _, text in slots], batch_size=batch_size)
    # Consistency across the dataset: a name part found in one text is flagged in every text.
    parts = set().union(*(name_parts(text, res) for (_, _, text), res in zip(slots, found, strict=True)))
    found = [resolve(consistent_names(text, res, parts)) for (_, _, text), res in zip(slots, found, strict=True)]
    outputs: list[tuple[str, list[str]]] = []
    for (index, path, text), results in zip(slots, found, strict=True):
        scrubbed, spans = _pseudonymise(engine, pseudonyms, text, results, report)
        _put(out[index], path, scrubbed)
        outputs.append((scrubbed, [s for _, s in spans]))
        for entity, surrogate in spans:
            if len(report.samples) < max_samples and sampler.random() < 0.25:
                report.samples.append({"record": index, "field": ".".join(map(str, path)), "entity": entity,
                                       "surrogate": surrogate})  # fmt: skip
    if residual_scan:
        rescanned = engine.analyze_many([t for t, _ in outputs], batch_size=batch_size, threshold=RESIDUAL_THRESHOLD)
        for (scrubbed, surrogates), results in zip(outputs, rescanned, strict=True):
            _count_residual(scrubbed, surrogates, results, report)
    return out, report


def _pseudonymise(
    engine: PiiEngine, pseudonyms: Pseudonymizer, text: str, results: list[RecognizerResult], report: ScrubReport
) -> tuple[str, list[tuple[str, str]]]:
    if not results:
        return text, []
    operators = {}
    for entity in {r.entity_type for r in results}:

        def replace(value: str, entity: str = entity) -> str:
            surrogate = pseudonyms.surrogate(entity, value)
            if report.mapping is not None:
                report.mapping.setdefault(entity, {})[value] = surrogate
            return surrogate

        operators[entity] = OperatorConfig("custom", {"lambda": replace})
    out = engine.anonymizer.anonymize(text=text, analyzer_results=results, operators=operators)  # type: ignore[arg-type]
    report.counts.update(item.entity_type for item in out.items)
    return out.text, [(item.entity_type, out.text[item.start : item.end]) for item in out.items]


def _count_residual(scrubbed: str, surrogates: list[str], results: list[RecognizerResult], report: ScrubReport) -> None:
    """PII a stricter scan still finds in the output, outside the surrogates we put there."""
    residual = [
        r for r in results
        if not any(scrubbed[r.start : r.end] in s or s in scrubbed[r.start : r.end] for s in surrogates)
        and not scrubbed[r.start : r.end].startswith("<")
    ]  # fmt: skip
    if residual:
        report.residual_texts += 1
        report.residual_counts.update(r.entity_type for r in residual)
