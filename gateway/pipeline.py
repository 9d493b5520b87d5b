"""The answer pipeline, readable top to bottom: authorise → retrieve → re-check → generate → audit.

Nothing leaves without an audit row: if the audit write fails the caller gets 503 and no answer.
Failures of the policy store or the search backend are audited as ``failed`` (when the audit store
is up) and answered with 503; they never degrade into unfiltered results.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from gateway.audit.log import AuditLog
from gateway.audit.record import AuditKind, AuditRecord, AuditStatus, RetrievedRef
from gateway.auth.principal import Principal
from gateway.authz.service import DocumentRef, PolicyService
from gateway.errors import GatewayError
from gateway.generation.base import Completion, Generator
from gateway.observability import Metrics
from gateway.retrieval.adaptive import AdaptiveWeights, adaptive_fusion
from gateway.retrieval.base import FusionConfig, Hit, Retriever, SearchRequest
from gateway.retrieval.embed import Embedder
from gateway.settings import SearchSettings

log = logging.getLogger("gateway.pipeline")


@dataclass
class Timings:
    """Per-stage latencies in milliseconds, recorded in the audit row and in metrics."""

    stages: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = round((time.perf_counter() - start) * 1000, 3)


@dataclass(frozen=True)
class SearchOutcome:
    hits: list[Hit]
    request_id: str


@dataclass(frozen=True)
class AskOutcome:
    completion: Completion
    hits: list[Hit]
    request_id: str


class AnswerPipeline:
    """Wires the seams together; knows nothing about HTTP."""

    def __init__(
        self,
        *,
        policy: PolicyService,
        retriever: Retriever,
        embedder: Embedder,
        generator: Generator,
        audit: AuditLog,
        search: SearchSettings,
        metrics: Metrics,
    ) -> None:
        self.policy = policy
        self.retriever = retriever
        self.embedder = embedder
        self.generator = generator
        self.audit = audit
        self.search_settings = search
        self.metrics = metrics

    # -- public entry points -------------------------------------------------------------------

    def search(
        self,
        principal: Principal,
        query: str,
        *,
        k: int,
        collections: frozenset[str] | None,
        one_per_document: bool,
        request_id: str,
    ) -> SearchOutcome:
        """Permitted hits only; audited as a ``search`` event."""
        timings = Timings()
        try:
            hits = self._retrieve(principal, query, k, collections, one_per_document, timings)
        except GatewayError as exc:
            self._audit_failure("search", principal, request_id, query, exc, timings)
            raise
        self._audit(
            AuditRecord.of(
                principal,
                request_id=request_id,
                kind="search",
                status="ok" if hits else "no_answer",
                policy_version=self.policy.version,
                question=query,
                retrieved=_refs(hits),
                latencies_ms=timings.stages,
            )
        )
        return SearchOutcome(hits=hits, request_id=request_id)

    def ask(
        self,
        principal: Principal,
        question: str,
        *,
        k: int,
        collections: frozenset[str] | None,
        request_id: str,
    ) -> AskOutcome:
        """Answer from permitted passages only; audited (answered, no answer or failed) before returning."""
        timings = Timings()
        try:
            hits = self._retrieve(principal, question, k, collections, True, timings)
            with timings.stage("generate"):
                completion = self.generator.generate(question, hits)
        except GatewayError as exc:
            self._audit_failure("ask", principal, request_id, question, exc, timings)
            raise
        status: AuditStatus = "answered" if completion.answered else "no_answer"
        self._audit(
            AuditRecord.of(
                principal,
                request_id=request_id,
                kind="ask",
                status=status,
                policy_version=self.policy.version,
                question=question,
                answer=completion.text,
                citations=tuple(_citation_dict(c) for c in completion.citations),
                retrieved=_refs(hits),
                generator=completion.generator,
                guards={},
                latencies_ms=timings.stages,
            )
        )
        return AskOutcome(completion=completion, hits=hits, request_id=request_id)

    # -- stages ----------------------------------------------------------------------------------

    def _retrieve(
        self,
        principal: Principal,
        text: str,
        k: int,
        collections: frozenset[str] | None,
        one_per_document: bool,
        timings: Timings,
    ) -> list[Hit]:
        with timings.stage("authorize"):
            acl = self.policy.compile_filter(principal)
        with timings.stage("embed"):
            vector = self.embedder.embed([text])[0]
        request = SearchRequest(
            text=text,
            vector=vector,
            acl=acl,
            k=k,
            collections=collections,
            one_per_document=one_per_document,
            fusion=self._fusion(text, k),
        )
        with timings.stage("retrieve"):
            hits = self.retriever.search(request)
        with timings.stage("recheck"):
            hits = self._recheck(principal, hits)
        for name, ms in timings.stages.items():
            self.metrics.stage_latency.labels(stage=name).observe(ms / 1000)
        return hits

    def _fusion(self, text: str, k: int) -> FusionConfig:
        cfg = self.search_settings
        base = FusionConfig(
            method="rrf" if cfg.fusion == "adaptive" else cfg.fusion,
            rank_constant=cfg.rrf_rank_constant,
            lexical_weight=cfg.lexical_weight,
            candidates=max(cfg.candidates, k),
        )
        if cfg.fusion != "adaptive":
            return base
        return adaptive_fusion(text, base, AdaptiveWeights.from_settings(cfg))

    def _recheck(self, principal: Principal, hits: list[Hit]) -> list[Hit]:
        """Defence in depth: every hit is re-checked with Casbin. A mismatch should never happen."""
        kept: list[Hit] = []
        for hit in hits:
            ref = DocumentRef(
                tenant=hit.tenant,
                collection=hit.collection,
                allow=hit.acl_allow,
                deny=hit.acl_deny,
                document_id=hit.document_id,
            )
            if self.policy.can_read(principal, ref).allowed:
                kept.append(hit)
                continue
            self.metrics.security_events.labels(event="filter_recheck_mismatch").inc()
            log.error(
                "security event: retrieval filter returned a hit that policy denies",
                extra={
                    "event": "filter_recheck_mismatch",
                    "chunk_id": hit.chunk_id,
                    "document_id": hit.document_id,
                    "subject": principal.subject,
                },
            )
        return kept

    # -- audit -----------------------------------------------------------------------------------

    def _audit(self, record: AuditRecord) -> None:
        try:
            self.audit.append(record)
        except GatewayError:
            self.metrics.audit_failures.inc()
            raise

    def _audit_failure(
        self,
        kind: AuditKind,
        principal: Principal,
        request_id: str,
        text: str,
        exc: GatewayError,
        timings: Timings,
    ) -> None:
        version = -1  # the policy store itself may be what failed
        with suppress(GatewayError):
            version = self.policy.version
        details: dict[str, Any] = {"error": exc.code}
        self._audit(
            AuditRecord.of(
                principal,
                request_id=request_id,
                kind=kind,
                status="failed",
                policy_version=version,
                question=text,
                latencies_ms=timings.stages,
                details=details,
            )
        )


def _refs(hits: list[Hit]) -> tuple[RetrievedRef, ...]:
    return tuple(RetrievedRef(h.chunk_id, h.document_id, h.version, round(h.score, 6)) for h in hits)


def _citation_dict(c: Any) -> dict[str, Any]:
    return {
        "marker": c.marker,
        "document_id": c.document_id,
        "chunk_id": c.chunk_id,
        "title": c.title,
        "version": c.version,
        "score": round(c.score, 6),
    }
