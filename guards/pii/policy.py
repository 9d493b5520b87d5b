"""The PII policy (``policies/pii.toml``): entities, threshold, enterprise ids, and what each caller may see."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

_READER_PREFIXES = ("user:", "group:", "role:")
SECRETS = ("API_KEY", "BEARER_TOKEN", "PRIVATE_KEY", "PASSWORD")
DEFAULT_ENTITIES = (
    "PERSON", "LOCATION", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS",
    "NATIONAL_ID", "STREET_ADDRESS", *SECRETS,
)  # fmt: skip


class EnterpriseId(BaseModel):
    """One enterprise identifier recognised by pattern."""

    model_config = ConfigDict(extra="forbid")

    entity: str
    pattern: str
    score: float = Field(default=0.85, gt=0, le=1)
    context: list[str] = Field(default_factory=list)


class AnswerRules(BaseModel):
    """What callers may see in answers; everything detected and not visible becomes ``<TYPE>``."""

    model_config = ConfigDict(extra="forbid")

    visible_to_all: frozenset[str] = frozenset()
    never_visible: frozenset[str] = frozenset({"US_SSN", "NATIONAL_ID", "CREDIT_CARD", "IBAN_CODE", *SECRETS})
    audit_visible: frozenset[str] = frozenset()
    """What the audit row keeps of the question and answer (default: nothing detected is kept)."""
    roles: dict[str, frozenset[str]] = Field(default_factory=dict)
    """Principal string (``group:hr``, ``role:dpo``, ``user:alice``) → entity types it may see."""

    def visible_to(self, principals: frozenset[str]) -> frozenset[str]:
        """The entity types a caller with these (expanded) principal strings may see."""
        granted = set(self.visible_to_all)
        for principal in principals:
            granted |= self.roles.get(principal, frozenset())
        return frozenset(granted - self.never_visible)


class IngestRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sensitive: frozenset[str] = frozenset(set(DEFAULT_ENTITIES) - {"PERSON", "LOCATION"})
    """A document carrying any of these is labelled PII-bearing."""
    readers: frozenset[str] = frozenset()
    """Principals (``group:hr``, ``role:dpo``, ``user:<sub>``) that may read PII-bearing documents;
    every other caller is denied them (the gateway's policy layer enforces it). Empty: no restriction."""

    @field_validator("readers")
    @classmethod
    def _principals(cls, readers: frozenset[str]) -> frozenset[str]:
        bad = [r for r in readers if not r.startswith(_READER_PREFIXES) or len(r) <= len(r.split(":", 1)[0]) + 1]
        if bad:
            raise ValueError(f"readers must be user:, group: or role: principals, not {sorted(bad)[:3]}")
        return readers


class DatasetRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_residual_rate: float = Field(default=0.02, ge=0, le=1)


class PiiPolicy(BaseModel):
    """The whole policy document (unknown keys are refused: a typo must not silently relax scrubbing)."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    language: str = "en"
    threshold: float = Field(default=0.5, gt=0, le=1)
    entities: tuple[str, ...] = DEFAULT_ENTITIES
    answers: AnswerRules = Field(default_factory=AnswerRules)
    enterprise_ids: list[EnterpriseId] = Field(default_factory=list)
    ingest: IngestRules = Field(default_factory=IngestRules)
    dataset: DatasetRules = Field(default_factory=DatasetRules)

    @classmethod
    def from_file(cls, path: Path) -> PiiPolicy:
        return cls.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
