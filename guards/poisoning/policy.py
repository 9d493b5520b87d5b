"""The screening policy: what a set of detector verdicts means for a collection and a source.

Detection apart from action: detectors report findings and scores; this module alone decides
``index`` or ``quarantine``, from thresholds per detector (overridable per collection) shifted by
the source's trust level. The policy is a TOML document (``default_policy.toml`` ships with the
package; ``GATEWAY_SCREENING_POLICY_FILE`` points the gateway at another).
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from guards.base import Verdict
from guards.poisoning.base import combined_score

Action = Literal["index", "quarantine"]


class TrustLevel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    offset: float = 0.0
    """Added to every threshold: negative is stricter."""
    floor: float = 0.05
    skip: tuple[str, ...] = ()
    """Detectors not run for sources of this level."""


class SourceRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pattern: str
    trust: str


class CollectionRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    thresholds: dict[str, float] = Field(default_factory=dict)
    allowed_domains: tuple[str, ...] | None = None


class PolicyDocument(BaseModel):
    """The TOML file's schema (unknown keys are refused: a typo must not silently relax screening)."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    default_trust: str = "standard"
    anonymous_trust: str = "strict"
    thresholds: dict[str, float]
    trust: dict[str, TrustLevel]
    sources: list[SourceRule] = Field(default_factory=list)
    allowed_domains: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    collections: dict[str, CollectionRules] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _levels_exist(self) -> PolicyDocument:
        named = {self.default_trust, self.anonymous_trust, *(s.trust for s in self.sources)}
        if missing := named - set(self.trust):
            raise ValueError(f"trust levels used but not defined: {sorted(missing)}")
        return self


@dataclass(frozen=True, slots=True)
class Reason:
    """One detector whose score crossed its threshold, with what it saw."""

    detector: str
    version: str
    score: float
    threshold: float
    labels: tuple[str, ...]
    evidence: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "version": self.version,
            "score": self.score,
            "threshold": self.threshold,
            "labels": list(self.labels),
            "evidence": list(self.evidence),
        }


@dataclass(frozen=True, slots=True)
class ScreeningDecision:
    action: Action
    trust: str
    reasons: tuple[Reason, ...]
    verdicts: tuple[Verdict, ...]

    @property
    def quarantined(self) -> bool:
        return self.action == "quarantine"

    def summary(self) -> dict[str, Any]:
        """For the audit row: action, trust, every guard's name/version/counts; reasons without evidence text."""
        return {
            "action": self.action,
            "trust": self.trust,
            "guards": [v.summary() for v in self.verdicts],
            "reasons": [{"detector": r.detector, "score": r.score, "labels": list(r.labels)} for r in self.reasons],
        }


class ScreeningPolicy:
    """Thresholds, trust levels and allow-lists, read from a :class:`PolicyDocument`."""

    def __init__(self, document: PolicyDocument) -> None:
        self.document = document

    @classmethod
    def default(cls) -> ScreeningPolicy:
        text = resources.files("guards.poisoning").joinpath("default_policy.toml").read_text(encoding="utf-8")
        return cls.from_toml(text)

    @classmethod
    def from_toml(cls, text: str) -> ScreeningPolicy:
        return cls(PolicyDocument.model_validate(tomllib.loads(text)))

    @classmethod
    def from_file(cls, path: Path) -> ScreeningPolicy:
        return cls.from_toml(path.read_text(encoding="utf-8"))

    def trust_of(self, source: str) -> str:
        if not source or source == "anonymous":
            return self.document.anonymous_trust
        for rule in self.document.sources:
            if fnmatch.fnmatchcase(source, rule.pattern):
                return rule.trust
        return self.document.default_trust

    def skips(self, detector: str, trust: str) -> bool:
        return detector in self.document.trust[trust].skip

    def threshold(self, detector: str, collection: str, trust: str) -> float:
        rules = self.document.collections.get(collection)
        base = (rules.thresholds if rules else {}).get(detector, self.document.thresholds.get(detector, 0.7))
        level = self.document.trust[trust]
        return round(max(level.floor, base + level.offset), 4)

    def allowed_domains(self) -> dict[str, frozenset[str]]:
        """Per collection, for :class:`~guards.poisoning.exfiltration.ExfiltrationDetector`."""
        out = {name: frozenset(d.lower() for d in domains) for name, domains in self.document.allowed_domains.items()}
        for name, rules in self.document.collections.items():
            if rules.allowed_domains is not None:
                out[name] = frozenset(d.lower() for d in rules.allowed_domains)
        return out

    def decide(self, verdicts: tuple[Verdict, ...], *, collection: str, trust: str) -> ScreeningDecision:
        reasons: list[Reason] = []
        for verdict in verdicts:
            score = combined_score(verdict.findings)
            threshold = self.threshold(verdict.guard, collection, trust)
            if verdict.findings and score >= threshold:
                ranked = sorted(verdict.findings, key=lambda f: -f.score)
                labels = tuple(dict.fromkeys(f.label for f in ranked))
                evidence = tuple(f.evidence for f in ranked[:3] if f.evidence)
                reasons.append(Reason(verdict.guard, verdict.version, score, threshold, labels, evidence))
        action: Action = "quarantine" if reasons else "index"
        return ScreeningDecision(action, trust, tuple(reasons), verdicts)
