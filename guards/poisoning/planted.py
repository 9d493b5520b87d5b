"""Planted answers (PoisonedRAG-style): a passage built to be retrieved for a question and to
answer it wrongly.

Signals relative to the collection: the passage restates a question (the attack prepends the
target question so that it ranks for it); it sits unusually close to trusted passages in
embedding space (it copies their vocabulary); and, strongest, it contradicts the trusted passages
it is nearest to: a changed number or date, a changed name, a negation (:mod:`guards.poisoning.facts`).
Embeddings and neighbours come from the caller (:class:`TrustedNeighbours`): the gateway has
already embedded the passages for indexing, so screening costs no second embedding.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from guards.base import Finding, Verdict
from guards.poisoning.base import Passage, ScreenDocument, excerpt
from guards.poisoning.facts import contradiction, sentences
from guards.poisoning.neighbours import TrustedNeighbours

_QUESTION = re.compile(
    r"^\s*(?:q\s*[:.]\s*)?(?:what|who|whom|which|when|where|why|how|is|are|was|were|do|does|did|can|could|should"
    r"|will|would|wie|was|wer|wann|wo|warum|quel|quelle|qui|quand|où|comment|qué|quién|cuándo|dónde|cómo)\b[^?\n]{3,200}\?",
    re.IGNORECASE,
)
_ANSWER_CUE = re.compile(r"\b(?:the (?:correct |right |official )?answer is|a\s*[:.]|answer\s*:)", re.IGNORECASE)
CLOSE_Z = 2.0
"""A nearest-trusted similarity this many standard deviations above the collection's usual is unusual."""


class PlantedAnswerDetector:
    """Question-likeness, embedding closeness and contradiction against the nearest trusted passages."""

    name = "planted_answer"
    version = "1"

    def __init__(self, neighbours: TrustedNeighbours | None, *, k: int = 8, min_similarity: float = 0.4) -> None:
        self.neighbours = neighbours
        self.k = k
        self.min_similarity = min_similarity

    def inspect(self, text: str) -> Verdict:
        return Verdict(self.name, self.version, tuple(self._question(text)))

    def inspect_document(self, doc: ScreenDocument) -> Verdict:
        findings: dict[str, Finding] = {}
        passages = doc.passages or (Passage(doc.text),)
        for passage in passages:
            for finding in self._passage(passage, doc):
                if finding.label not in findings or finding.score > findings[finding.label].score:
                    findings[finding.label] = finding
        return Verdict(self.name, self.version, tuple(findings.values()))

    def _passage(self, passage: Passage, doc: ScreenDocument) -> Iterator[Finding]:
        yield from self._question(passage.text)
        if self.neighbours is None or passage.vector is None:
            return
        candidates = self.neighbours.nearest(passage.vector, collection=doc.collection, k=self.k + 2, scope=doc.scope)
        near = [n for n in candidates if not (doc.key and n.document == doc.key)][: self.k]
        for n in near:
            if n.similarity < self.min_similarity:
                continue
            if found := contradiction(passage.text, n.text):
                evidence = (
                    f"{found.kind} differs: claims {excerpt(found.claimed)!r}; "
                    f"trusted {n.ref}: {excerpt(found.trusted)!r}"
                )
                yield Finding(self.name, f"contradicts_trusted_{found.kind}", 0.85, evidence=evidence[:400])
                break
        density = self.neighbours.density(doc.collection, doc.scope)
        if near and density is not None:
            z = (near[0].similarity - density.mean) / density.std
            if z >= CLOSE_Z:
                yield Finding(
                    self.name,
                    "unusually_close",
                    0.3,
                    evidence=f"nearest trusted {near[0].ref} at {near[0].similarity:.2f} (z={z:.1f})",
                )

    def _question(self, text: str) -> Iterator[Finding]:
        head = sentences(text[:600])
        first = _QUESTION.match(text[:400])
        if not first:
            return
        question = first.group(0).strip()
        repeated = text.count(question) > 1 or bool(_ANSWER_CUE.search(text[first.end() : first.end() + 200]))
        score = 0.55 if repeated else 0.35
        label = "restated_question" if repeated else "opens_with_question"
        yield Finding(
            self.name, label, score, evidence=excerpt(question) + (f" / {len(head)} sentences" if head else "")
        )
