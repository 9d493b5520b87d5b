"""Which engine earned the answer: retrieval only, the model only, or both.

Runs a QA set (``data/sample/qa.json``: answerable questions with hand-written references and
their supporting document, unanswerable ones, and forbidden ones that only a document the persona
may not read answers) through the real pipeline (ACL filter, re-check, re-screen, generation,
citation check) for each engine, and scores:

* **EM**: the normalised reference is contained in the normalised answer (generative answers are
  never verbatim, so containment, not equality);
* **F1**: SQuAD token F1 between answer (citations stripped) and reference;
* **cite P / R**: cited chunks that belong to the supporting document / answers that cite it;
* **faithful**: answer sentences whose content terms are at least half found in the chunks they cite;
* **refusal**: answered when answerable, refused (the no-answer sentence) otherwise;
* **latency**: per question, retrieval included.

All local, no hosted judge. Engines: ``extractive`` (retrieval + quoting, no model), ``rag`` (base
model + retrieval), ``closed`` (base model, no retrieval), and with an adapter ``adapter`` (adapter,
no retrieval) and ``hybrid`` (adapter + retrieval).
"""

from __future__ import annotations

import json
import math
import re
import statistics
import string
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.auth.principal import Principal
from gateway.generation.base import NO_ANSWER, NO_CONTEXT, AskContext, Completion, Generator
from gateway.generation.extractive import split_sentences, terms
from gateway.generation.grounding import covers
from gateway.generation.model import AdapterInfo, ModelGenerator, TextModel
from gateway.generation.prompt import INSTRUCTIONS
from gateway.pipeline import AnswerPipeline
from gateway.retrieval.base import Hit

_CITATION = re.compile(r"\s*\[\d{1,3}\]")


@dataclass(frozen=True, slots=True)
class QAItem:
    kind: str
    """``answerable``, ``unanswerable`` or ``forbidden``."""
    subject: str
    groups: tuple[str, ...]
    question: str
    reference: str = ""
    document_id: str = ""


def load_qa(path: Path) -> list[QAItem]:
    items = json.loads(path.read_text())["items"]
    return [QAItem(**{**x, "groups": tuple(x["groups"])}) for x in items]


@dataclass
class Scores:
    """One engine's results, question by question."""

    em: list[float] = field(default_factory=list)
    f1: list[float] = field(default_factory=list)
    cite_p: list[float] = field(default_factory=list)
    cite_r: list[float] = field(default_factory=list)
    faithful: list[float] = field(default_factory=list)
    refusal: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)

    def row(self) -> dict[str, float]:
        def mean(xs: list[float]) -> float:
            return statistics.fmean(xs) if xs else float("nan")

        return {
            "EM": mean(self.em), "F1": mean(self.f1), "cite P": mean(self.cite_p), "cite R": mean(self.cite_r),
            "faithful": mean(self.faithful), "refusal": mean(self.refusal),
            "p50 ms": statistics.median(self.latency_ms) if self.latency_ms else float("nan"),
        }  # fmt: skip


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", _CITATION.sub("", text)).casefold()
    text = "".join(" " if ch in string.punctuation else ch for ch in text)
    return " ".join(w for w in text.split() if w not in ("a", "an", "the"))


def token_f1(answer: str, reference: str) -> float:
    a, r = normalise(answer).split(), normalise(reference).split()
    common = sum((Counter(a) & Counter(r)).values())
    if not a or not r or not common:
        return 0.0
    precision, recall = common / len(a), common / len(r)
    return 2 * precision * recall / (precision + recall)


def faithfulness(completion: Completion, hits: Sequence[Hit]) -> float:
    """Share of answer sentences whose content terms are at least half in the chunks they cite."""
    by_chunk = {h.chunk_id: set(terms(h.text)) for h in hits}
    support = set().union(*(by_chunk.get(c.chunk_id, set()) for c in completion.citations))
    sentences = [s.text for s in split_sentences(_CITATION.sub("", completion.text))]
    scored = [1.0 if covers(support, s) else 0.0 for s in sentences if terms(s)]
    return statistics.fmean(scored) if scored else 0.0


def score(scores: Scores, item: QAItem, completion: Completion, hits: Sequence[Hit], ms: float) -> None:
    answered = completion.answered and NO_ANSWER.rstrip(".") not in completion.text
    scores.latency_ms.append(ms)
    scores.refusal.append(1.0 if answered == (item.kind == "answerable") else 0.0)
    if item.kind != "answerable":
        return
    scores.em.append(1.0 if normalise(item.reference) in normalise(completion.text) else 0.0)
    scores.f1.append(token_f1(completion.text, item.reference))
    cited_docs = [c.document_id for c in completion.citations]
    if cited_docs:
        scores.cite_p.append(sum(d == item.document_id for d in cited_docs) / len(cited_docs))
    scores.cite_r.append(1.0 if item.document_id in cited_docs else 0.0)
    if answered:
        scores.faithful.append(faithfulness(completion, hits))


class ClosedBook:
    """A ``Generator`` that asks the model without any retrieved passage (the model-only engine)."""

    def __init__(self, model: TextModel, adapter: AdapterInfo | None, max_new_tokens: int) -> None:
        self.model, self.adapter, self.max_new_tokens = model, adapter, max_new_tokens

    @property
    def name(self) -> str:
        return f"{self.model.kind}-closed-book"

    def generate(self, question: str, passages: Sequence[Hit], context: AskContext = NO_CONTEXT) -> Completion:
        del passages, context  # model knowledge only: that is the point of this engine
        messages = ({"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": f"Question: {question}"})
        text = "".join(self.model.stream(messages, self.adapter, self.max_new_tokens)).strip() or NO_ANSWER
        answered = NO_ANSWER.rstrip(".") not in text
        return Completion(text=text, citations=(), answered=answered, generator=self.name)


class _FixedAdapter:
    def __init__(self, adapter: AdapterInfo | None) -> None:
        self.adapter = adapter

    def active_adapter(self, tenant: str) -> AdapterInfo | None:
        del tenant
        return self.adapter


ENGINE_KEYS = (
    "extractive", "rag", "closed", "adapter", "hybrid", "hybrid-calibrated",
    "rag-no-note", "hybrid-no-note", "rag-ungrounded", "hybrid-ungrounded",
)  # fmt: skip
"""Short names of the engines, in table order (``gateway generation eval --engines``). The ``-no-note``
and ``-ungrounded`` rows are ablations: the same engine without the prompt's evidence note
(``prompt.evidence_note``) or without the grounding gate (``generation.grounding``), so the table
shows what each earns and what the adapter earns; they run only when named."""
_ABLATIONS = {
    "rag-no-note": ("rag without the evidence note", {"evidence_note": False}),
    "hybrid-no-note": ("hybrid without the evidence note", {"evidence_note": False}),
    "rag-ungrounded": ("rag without the grounding gate", {"grounded": False}),
    "hybrid-ungrounded": ("hybrid without the grounding gate", {"grounded": False}),
}


def _ablation(
    model: TextModel, resolver: _FixedAdapter | None, max_new_tokens: int, off: dict[str, bool]
) -> Callable[[], Generator]:
    return lambda: ModelGenerator(model, resolver, max_new_tokens=max_new_tokens, **off)


def engines(
    model: TextModel | None, adapter: AdapterInfo | None, max_new_tokens: int, extractive: Generator,
    refusal_margin: float | None = None, only: Collection[str] | None = None,
) -> Iterator[tuple[str, Generator]]:  # fmt: skip
    """The engines, in table order (``only``: those of :data:`ENGINE_KEYS` named, e.g. to run rows in
    parallel processes on a busy machine). With ``refusal_margin`` (a ``local`` model and an adapter),
    hybrid runs a second time with the calibrated refusal decision (``gateway.generation.local``): the
    margin is tuned for the adapter on its dataset's eval split, so it is not applied to the base
    model's rows."""
    if only is not None and not set(only) <= set(ENGINE_KEYS):
        raise ValueError(f"unknown engines: {sorted(set(only) - set(ENGINE_KEYS))}")
    rows: list[tuple[str, str, Callable[[], Generator]]] = [
        ("extractive", "extractive (retrieval, no model)", lambda: extractive)
    ]
    if model is not None:
        rows += [
            ("rag", "rag (base + retrieval)", lambda: ModelGenerator(model, max_new_tokens=max_new_tokens)),
            ("closed", "closed (base, no retrieval)", lambda: ClosedBook(model, None, max_new_tokens)),
        ]
        if adapter is not None:
            fixed = _FixedAdapter(adapter)
            rows += [
                ("adapter", "adapter (no retrieval)", lambda: ClosedBook(model, adapter, max_new_tokens)),
                ("hybrid", "hybrid (adapter + retrieval)",
                 lambda: ModelGenerator(model, fixed, max_new_tokens=max_new_tokens)),
            ]  # fmt: skip
    if model is not None:
        for key, (name, off) in _ABLATIONS.items():
            if key.startswith("rag"):
                rows.append((key, name, _ablation(model, None, max_new_tokens, off)))
            elif adapter is not None:
                rows.append((key, name, _ablation(model, _FixedAdapter(adapter), max_new_tokens, off)))
    if refusal_margin is not None:
        from gateway.generation.local import CalibratedRefusal, LocalTextModel  # noqa: PLC0415

        if not isinstance(model, LocalTextModel) or adapter is None:
            raise ValueError("a refusal margin needs the local model and an adapter")
        calibrated = CalibratedRefusal(model, refusal_margin)
        rows.append((
            "hybrid-calibrated", f"hybrid + calibrated refusal (margin {refusal_margin:g})",
            lambda: ModelGenerator(calibrated, _FixedAdapter(adapter), max_new_tokens=max_new_tokens),
        ))  # fmt: skip
    for key, name, make in rows:
        if (only is None and key not in _ABLATIONS) or (only is not None and key in only):
            yield name, make()


def run(pipeline: AnswerPipeline, items: Sequence[QAItem], generators: Iterator[tuple[str, Generator]], tenant: str,
        k: int = 4, answers: list[dict[str, Any]] | None = None) -> dict[str, dict[str, float]]:  # fmt: skip
    """Every item through the real pipeline, once per engine; the table's rows (``answers`` collects the texts)."""
    table: dict[str, dict[str, float]] = {}
    for name, generator in generators:
        pipeline.generator = generator
        scores = Scores()
        for i, item in enumerate(items):
            principal = Principal(item.subject, tenant, frozenset(item.groups))
            start = time.perf_counter()
            out = pipeline.ask(principal, item.question, k=k, collections=None, request_id=f"eval-{i}")
            score(scores, item, out.completion, out.hits, (time.perf_counter() - start) * 1000)
            if answers is not None:
                answers.append(
                    {"engine": name, "kind": item.kind, "question": item.question, "answer": out.completion.text}
                )
        table[name] = scores.row()
    return table


def render(table: dict[str, dict[str, float]]) -> str:
    """A markdown table, with each model engine's F1 and refusal deltas against retrieval-only."""
    columns = ["EM", "F1", "cite P", "cite R", "faithful", "refusal", "p50 ms"]
    lines = ["| engine | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for name, row in table.items():
        cells = [
            f"{row[c]:.0f}" if c == "p50 ms" else ("-" if math.isnan(row[c]) else f"{row[c]:.2f}") for c in columns
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def as_json(table: dict[str, dict[str, float]]) -> dict[str, Any]:
    return {k: {c: (None if math.isnan(v) else round(v, 4)) for c, v in row.items()} for k, row in table.items()}
