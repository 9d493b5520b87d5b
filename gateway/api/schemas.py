"""Request and response bodies (msgspec structs: validated on the way in, fast on the way out)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from gateway.settings import MAX_QUESTION_CEILING

# The schema's ceiling; the configured limit (GATEWAY_MAX_QUESTION_CHARS) is enforced by the pipeline.
Question = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_QUESTION_CEILING)]
Collections = Annotated[list[Annotated[str, msgspec.Meta(max_length=64)]], msgspec.Meta(max_length=100)]
K = Annotated[int, msgspec.Meta(ge=1, le=50)]


class SearchBody(msgspec.Struct, forbid_unknown_fields=True):
    query: Question
    k: K | None = None
    collections: Collections | None = None
    one_per_document: bool = True


class SearchHitOut(msgspec.Struct):
    document_id: str
    chunk_id: str
    title: str
    version: int
    score: float
    text: str
    highlights: list[str]
    collection: str


class SearchOut(msgspec.Struct):
    hits: list[SearchHitOut]
    request_id: str


class AskBody(msgspec.Struct, forbid_unknown_fields=True):
    question: Question
    k: K | None = None
    collections: Collections | None = None
    stream: bool = False
    """Answer as server-sent events: ``delta`` pieces, then ``done`` with the citations (or ``error``)."""


class CitationOut(msgspec.Struct):
    marker: int
    document_id: str
    chunk_id: str
    title: str
    version: int
    score: float


class AskOut(msgspec.Struct):
    answer: str
    citations: list[CitationOut]
    request_id: str
    answered: bool
    generator: str


class AclIn(msgspec.Struct, forbid_unknown_fields=True):
    allow: Annotated[list[str], msgspec.Meta(max_length=1000)] = msgspec.field(default_factory=list)
    deny: Annotated[list[str], msgspec.Meta(max_length=1000)] = msgspec.field(default_factory=list)


class DocumentIn(msgspec.Struct, forbid_unknown_fields=True):
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    collection: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    title: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    text: str | None = None
    content_base64: str | None = None
    mime_type: str | None = None
    acl: AclIn = msgspec.field(default_factory=AclIn)
    labels: Annotated[list[str], msgspec.Meta(max_length=100)] = msgspec.field(default_factory=list)
    source_uri: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    updated_at: str | None = None


class ScreeningReasonOut(msgspec.Struct):
    detector: str
    score: float
    labels: list[str]
    evidence: list[str]


class DocumentOut(msgspec.Struct, omit_defaults=True):
    id: str
    version: int
    status: str
    """``indexed``, ``quarantined`` (kept for review, never searchable) or ``deleted``."""
    reasons: list[ScreeningReasonOut] = msgspec.field(default_factory=list)
    """Why a document was quarantined: detector, score and short evidence."""
    quarantine_id: int | None = None


class QuarantineItemOut(msgspec.Struct):
    id: int
    document_id: str
    collection: str
    status: str
    detectors: list[str]
    submitted_by: str
    created_at: str
    decided_by: str | None = None
    decided_at: str | None = None


class QuarantineDetailOut(msgspec.Struct):
    item: QuarantineItemOut
    reasons: list[dict[str, Any]]
    """Per detector: score, threshold, labels and evidence (hidden text made visible, decoded
    payloads, the trusted passage a planted answer contradicts)."""
    title: str
    text_excerpt: str
    note: str | None = None


class QuarantineDecisionIn(msgspec.Struct, forbid_unknown_fields=True):
    note: str | None = None


class DocumentInfoOut(msgspec.Struct):
    id: str
    version: int
    status: str
    title: str
    collection: str
    acl: dict[str, Any]
    labels: list[str]
    chunk_count: int
    source_uri: str | None
    mime_type: str
    pii: dict[str, Any] = msgspec.field(default_factory=dict)
    """PII labels from ingest: ``{"types": {TYPE: count}, "bearing": bool}`` (no values)."""


class PolicyRuleIn(msgspec.Struct, forbid_unknown_fields=True):
    ptype: Annotated[str, msgspec.Meta(pattern="^(p|g)$")]
    """``p`` or ``g`` (``validate_rule`` checks the exact value: a schema pattern's ``$`` lets "p\\n" by)."""
    rule: Annotated[list[Annotated[str, msgspec.Meta(max_length=255)]], msgspec.Meta(min_length=2, max_length=6)]


class ExplainIn(msgspec.Struct, forbid_unknown_fields=True):
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    document_id: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    groups: list[str] = msgspec.field(default_factory=list)
    tenant: str | None = None


class ExplainOut(msgspec.Struct):
    allowed: bool
    decision: str
    rules: list[str]
    reason: str
    principals: list[str]
    document_id: str
    policy_version: int
