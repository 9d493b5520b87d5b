"""One configured PII engine: Presidio's analyzer over our recognizers, and its anonymizer.

Built once (entities, threshold, language and enterprise patterns from the policy) and reused by
every caller: the answer pipeline, ingest labelling and the dataset scrubber. ``findings`` answers
"would the scrubber flag this?" for a gate; ``redact`` replaces what a caller may not see with
typed placeholders.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version as dist_version
from typing import Any

import regex
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry, RecognizerResult
from presidio_analyzer.predefined_recognizers import SpacyRecognizer
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig

from guards.base import Finding, Verdict
from guards.pii.nlp import NlpStatus, PinnedSpacyNlpEngine, load_pipeline
from guards.pii.policy import PiiPolicy
from guards.pii.recognizers import build_recognizers
from guards.pii.recognizers.names import COMMON_WORDS

log = logging.getLogger("guards.pii.engine")
# Presidio's own DEBUG lines quote the analysed text ("Context list is: ..."): logs must carry no raw
# PII whatever level an operator turns on, so its loggers never go below INFO.
for _name in ("presidio-analyzer", "presidio-anonymizer"):
    logging.getLogger(_name).setLevel(logging.INFO)

GUARD_NAME = "pii"
GUARD_VERSION = "1"


@dataclass(frozen=True)
class Redaction:
    """A text after redaction and how many entities of each type were replaced."""

    text: str
    counts: dict[str, int]


class PiiEngine:
    """The PII guard (a :class:`guards.base.Guard`): analyzer + anonymizer configured from a policy."""

    name = GUARD_NAME

    def __init__(
        self, policy: PiiPolicy, *, ner: bool = True, on_degraded: Callable[[NlpStatus], None] | None = None
    ) -> None:
        self.policy = policy
        nlp, self.status = load_pipeline(ner=ner)
        if self.status.degraded and on_degraded is not None:
            on_degraded(self.status)
        nlp_engine = PinnedSpacyNlpEngine(nlp, language=policy.language)
        registry = RecognizerRegistry(supported_languages=[policy.language])
        for recognizer in build_recognizers(policy):
            registry.add_recognizer(recognizer)
        if self.status.ner:
            registry.add_recognizer(
                SpacyRecognizer(supported_language=policy.language, supported_entities=["PERSON", "LOCATION"])
            )
        self.analyzer = AnalyzerEngine(
            registry=registry,
            nlp_engine=nlp_engine,
            supported_languages=[policy.language],
            default_score_threshold=policy.threshold,
        )
        self.anonymizer = AnonymizerEngine()  # type: ignore[no-untyped-call]
        self.entities = [e for e in policy.entities if e in set(self.analyzer.get_supported_entities(policy.language))]
        self.entities += [e.entity for e in policy.enterprise_ids if e.entity not in self.entities]
        self._nlp = nlp
        self._artifacts: Callable[[str], Any] | None = None

    @property
    def version(self) -> str:
        model = "ner" if self.status.ner else "patterns"
        return f"{GUARD_VERSION}+presidio{_presidio_version()}+{model}+policy{self.policy.version}"

    def with_nlp(self, artifacts: Callable[[str], Any]) -> PiiEngine:
        """A view of this engine (the same models, loaded once) whose ``analyze`` takes each text's
        spaCy analysis from ``artifacts`` instead of running the pipeline itself: e.g. a
        micro-batcher over :meth:`nlp_artifacts_many` that analyses concurrent callers' texts in one
        ``nlp.pipe``. Results are the same as the engine's own (``nlp.pipe`` = ``nlp`` per text)."""
        view = copy.copy(self)
        view._artifacts = artifacts
        return view

    def nlp_artifacts_many(self, texts: Sequence[str]) -> list[Any]:
        """The spaCy analysis of each text, the pipeline run once over all of them."""
        engine = self.analyzer.nlp_engine
        batch = engine.process_batch(list(texts), self.policy.language, batch_size=max(1, len(texts)))
        return [artifacts for _, artifacts in batch]

    # -- detection -----------------------------------------------------------------------------

    def analyze(
        self, text: str, *, nlp_artifacts: Any = None, threshold: float | None = None
    ) -> list[RecognizerResult]:
        """Entities above the policy's threshold (or ``threshold``), names made consistent within the text."""
        if not text.strip():
            return []
        if nlp_artifacts is None and self._artifacts is not None:
            nlp_artifacts = self._artifacts(text)
        results = self.analyzer.analyze(
            text=text,
            language=self.policy.language,
            entities=self.entities,
            score_threshold=self.policy.threshold if threshold is None else threshold,
            nlp_artifacts=nlp_artifacts,
        )
        kept = [r for r in results if _plausible(text, r)]
        return resolve(consistent_names(text, kept, name_parts(text, kept)))

    def analyze_many(
        self, texts: list[str], *, batch_size: int = 32, threshold: float | None = None
    ) -> list[list[RecognizerResult]]:
        """``analyze`` for many texts, the spaCy pipeline run once over the batch (``nlp.pipe``)."""
        engine = self.analyzer.nlp_engine
        docs = engine.process_batch(texts, self.policy.language, batch_size=batch_size)
        return [self.analyze(text, nlp_artifacts=artifacts, threshold=threshold) for text, artifacts in docs]

    def findings(self, text: str) -> list[Finding]:
        """What the scrubber would flag in ``text`` (no raw values: evidence stays empty)."""
        return [_finding(r) for r in self.analyze(text)]

    def inspect(self, text: str) -> Verdict:
        return Verdict(GUARD_NAME, self.version, tuple(self.findings(text)))

    # -- action ----------------------------------------------------------------------------------

    def redact(
        self, text: str, *, visible: frozenset[str] = frozenset(), results: list[RecognizerResult] | None = None
    ) -> Redaction:
        """``text`` with every detected entity not in ``visible`` replaced by ``<ENTITY_TYPE>``."""
        found = [r for r in (self.analyze(text) if results is None else results) if r.entity_type not in visible]
        if not found:
            return Redaction(text, {})
        out = self.anonymizer.anonymize(
            text=text,
            analyzer_results=found,  # type: ignore[arg-type]  # the analyzer's results, as Presidio documents
            operators={"DEFAULT": OperatorConfig("replace", {})},  # replace: <ENTITY_TYPE>
        )
        return Redaction(out.text, dict(sorted(Counter(i.entity_type for i in out.items).items())))


@cache
def _presidio_version() -> str:
    """Read once: ``importlib.metadata`` parses the distribution's metadata on every call (~2 ms,
    which the answer pipeline paid per request for the audit row's guard version)."""
    return dist_version("presidio-analyzer")


def _finding(r: RecognizerResult) -> Finding:
    detector = (r.recognition_metadata or {}).get(RecognizerResult.RECOGNIZER_NAME_KEY, "")
    return Finding(detector=str(detector), label=r.entity_type, score=round(r.score, 4), start=r.start, end=r.end)


def _plausible(text: str, r: RecognizerResult) -> bool:
    """Drop NER names and places that cannot be ones: digits, symbols or a single lower-case word."""
    if r.entity_type not in {"PERSON", "LOCATION"}:
        return True
    span = text[r.start : r.end]
    return not (any(c.isdigit() for c in span) or any(c in "@/_=<>{}[]#" for c in span) or span.islower())


def name_parts(text: str, results: Iterable[RecognizerResult]) -> set[str]:
    """The capitalised parts (3+ letters) of the PERSON spans found in ``text``."""
    parts = {p.strip(".,") for r in results if r.entity_type == "PERSON" for p in text[r.start : r.end].split()}
    return {p for p in parts if len(p) > 2 and p[:1].isupper() and p not in COMMON_WORDS}


def consistent_names(text: str, results: list[RecognizerResult], parts: set[str]) -> list[RecognizerResult]:
    """A name found once is a name everywhere: every other occurrence of one of ``parts`` (the parts of the
    names found in this text, or in a whole dataset) is flagged too."""
    if not parts:
        return results
    covered = [(r.start, r.end) for r in results]
    alternatives = "|".join(regex.escape(p) for p in sorted(parts))
    pattern = regex.compile(rf"(?<![\p{{L}}\d])(?:{alternatives})(?![\p{{L}}\d])")
    metadata = {
        RecognizerResult.RECOGNIZER_NAME_KEY: "ConsistentNames",
        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: "names",
    }
    extra = [
        RecognizerResult("PERSON", m.start(), m.end(), 0.65, recognition_metadata=dict(metadata))
        for m in pattern.finditer(text)
        if not any(s <= m.start() and m.end() <= e for s, e in covered)
    ]
    return results + extra


def _inside(r: RecognizerResult, o: RecognizerResult) -> bool:
    return o is not r and o.start <= r.start and r.end <= o.end and (o.end - o.start) > (r.end - r.start)


def resolve(results: Iterable[RecognizerResult]) -> list[RecognizerResult]:
    """Overlaps resolved: a span inside a longer one of another type goes (``Main Street`` inside
    ``12 Main Street``, a name inside an email address); otherwise the higher score wins, then the longer span."""
    every = list(results)
    results = [r for r in every if not any(_inside(r, o) for o in every)]
    ordered = sorted(results, key=lambda r: (-r.score, -(r.end - r.start), r.start))
    kept: list[RecognizerResult] = []
    for r in ordered:
        if all(r.end <= k.start or r.start >= k.end for k in kept):
            kept.append(r)
        elif r.entity_type in {"PERSON", "STREET_ADDRESS"}:
            for k in kept:  # a longer name/address wins over a shorter same-type one with a higher score
                if k.entity_type == r.entity_type and r.start <= k.start and k.end <= r.end:
                    k.start, k.end = r.start, r.end
    return sorted(kept, key=lambda r: r.start)
