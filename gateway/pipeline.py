"""The answer pipeline, readable top to bottom: authorise → retrieve → re-check → re-screen → generate →
link check → audit.

One wrapper owns the audit invariant: ``_audited`` surrounds every ``search`` and ``ask`` and
writes exactly one row, whatever happens inside (answered, no answer, refused for a 4xx, failed
for a 5xx *or any unexpected exception*), before anything is returned. If that write fails the
caller gets 503 and no answer. One policy view is taken per request and used by the filter, the
re-check and the row's ``policy_version`` alike.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Generator as Gen
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.audit.log import AuditLog
from gateway.audit.record import AuditKind, AuditRecord, AuditStatus, RetrievedRef
from gateway.auth.principal import Principal
from gateway.authz.service import PolicyService
from gateway.authz.view import PolicyView
from gateway.errors import GatewayError, InvalidRequest, ModelUnavailable
from gateway.generation.base import AskContext, Completion, Generator, stream_of
from gateway.generation.links import UnsourcedLinkFilter
from gateway.generation.pii import PiiAnswerFilter
from gateway.generation.stream import AnswerFilter, HoldbackScrubber, scrub_text
from gateway.observability import Metrics
from gateway.ratelimit import RequestLimiter
from gateway.retrieval.adaptive import AdaptiveWeights, adaptive_fusion
from gateway.retrieval.base import FusionConfig, Hit, Retriever, SearchRequest
from gateway.retrieval.embed import Embedder
from gateway.retrieval.recheck import SECURITY_EVENTS, DocumentStates, recheck
from gateway.settings import SearchSettings
from gateway.stages import Stages
from gateway.streaming import StreamEvent, citation_dict, done_event, guarded
from guards.pii.answers import scrub_for
from guards.pii.engine import PiiEngine
from guards.poisoning.answer_links import strip_unsourced_links
from guards.poisoning.rescreen import PassageRescreen

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


@dataclass
class Draft:
    """The audit row of one request, filled in as the request goes; written once by ``_audited``."""

    kind: AuditKind
    principal: Principal
    request_id: str
    question: str
    timings: Timings = field(default_factory=Timings)
    view: PolicyView | None = None
    status: AuditStatus = "failed"
    fields: dict[str, Any] = field(default_factory=dict)
    audit_question: str | None = None
    """What the row keeps of the question: the PII-scrubbed copy (``question`` when no guard runs)."""
    details: dict[str, Any] = field(default_factory=dict)
    """Kept in the row whatever the outcome (which generator was asked ...)."""
    dates: dict[str, datetime] = field(default_factory=dict)
    """Document id → last update of the retrieved documents (for conflicts between sources)."""

    def record(self, details: dict[str, Any] | None = None) -> AuditRecord:
        return AuditRecord.of(
            self.principal,
            request_id=self.request_id,
            kind=self.kind,
            status=self.status,
            policy_version=self.view.version if self.view is not None else -1,
            question=self.audit_question,
            latencies_ms=self.timings.stages,
            details={**self.details, **(details or {})},
            **self.fields,
        )


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
        states: DocumentStates,
        search: SearchSettings,
        metrics: Metrics,
        max_question_chars: int,
        rescreen: PassageRescreen | None = None,
        limiter: RequestLimiter | None = None,
        stages: Stages | None = None,
        pii: PiiEngine | None = None,
        answer_filters: Sequence[AnswerFilter] = (),
    ) -> None:
        self.policy = policy
        self.retriever = retriever
        self.embedder = embedder
        self.generator = generator
        self.audit = audit
        self.states = states
        self.search_settings = search
        self.metrics = metrics
        self.max_question_chars = max_question_chars
        self.rescreen = rescreen or PassageRescreen()
        self.limiter = limiter
        self.stages = stages or Stages.unbounded()
        self.pii = pii
        self.answer_filters = list(answer_filters)
        """Applied to every answer, streamed or not, across chunk boundaries (the PII guard plugs in here)."""

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
        with self._audited("search", principal, request_id, query) as draft:
            hits = self._retrieve(draft, k, collections, one_per_document)
            draft.status = "ok" if hits else "no_answer"
            draft.fields["retrieved"] = _refs(hits)
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
        with self._audited("ask", principal, request_id, question) as draft:
            draft.details["generation"] = {"generator": self.generator.name}
            hits = self._retrieve(draft, k, collections, True)
            draft.fields["retrieved"] = _refs(hits)
            with draft.timings.stage("generate"):
                completion = self.stages.generate.run(lambda: self._generate(question, hits, _context(draft)))
            with draft.timings.stage("links"):
                completion = self._check_links(draft, completion, hits)
            completion = self._filter(draft, completion)
            with draft.timings.stage("pii"):
                completion = self._scrub_answer(draft, completion)
            self._answered(draft, completion)
        return AskOutcome(completion=completion, hits=hits, request_id=request_id)

    def ask_stream(
        self,
        principal: Principal,
        question: str,
        *,
        k: int,
        collections: frozenset[str] | None,
        request_id: str,
    ) -> Iterator[StreamEvent]:
        """``ask`` as events: ``delta`` pieces, then ``done`` (citations) once the audit row is written.

        Retrieval and the model's first piece happen before this returns, so a refusal or an
        unavailable model is an ordinary error (problem JSON). A failure after that, including a
        failed audit write, ends the stream with an ``error`` event, never a ``done``.
        """
        events = self._ask_events(principal, question, k=k, collections=collections, request_id=request_id)
        first = next(events)
        return guarded(first, events, request_id)

    def _ask_events(
        self, principal: Principal, question: str, *, k: int, collections: frozenset[str] | None, request_id: str
    ) -> Gen[StreamEvent, None, None]:
        with self._audited("ask", principal, request_id, question) as draft:
            draft.details["generation"] = {"generator": self.generator.name}
            hits = self._retrieve(draft, k, collections, True)
            draft.fields["retrieved"] = _refs(hits)
            pii = self._pii_filter(draft)
            scrubber = HoldbackScrubber(
                [UnsourcedLinkFilter([h.text for h in hits]), *self.answer_filters, *([pii] if pii else [])]
            )
            parts: list[str] = []
            completion: Completion | None = None
            with draft.timings.stage("generate"):
                for item in stream_of(self.generator, question, hits, _context(draft)):
                    if isinstance(item, Completion):
                        completion = item
                    elif out := scrubber.feed(item.text):
                        parts.append(out)
                        yield StreamEvent("delta", {"text": out})
                if tail := scrubber.flush():
                    parts.append(tail)
                    yield StreamEvent("delta", {"text": tail})
            if completion is None:  # pragma: no cover - every generator stream ends with a Completion
                raise RuntimeError("the generator stream ended without a completion")
            completion = dataclasses.replace(completion, text="".join(parts))
            _record_filters(draft, {name: n for name, n in scrubber.counts.items() if pii is None or name != pii.name})
            if pii is not None:  # what the caller got is scrubbed piece by piece; the row keeps the audit's copy
                self._record_pii(draft, completion.text, scrubber.by_filter[pii.name])
            self._answered(draft, completion)
        yield done_event(completion, request_id)

    def _answered(self, draft: Draft, completion: Completion) -> None:
        draft.status = "answered" if completion.answered else "no_answer"
        details = completion.audit_details()
        draft.fields.update(
            answer=draft.fields.pop("audit_answer", completion.text),  # the PII guard's stricter copy
            citations=tuple(citation_dict(c) for c in completion.citations),
            generator=completion.generator,
        )
        draft.details["generation"] = details

    def _filter(self, draft: Draft, completion: Completion) -> Completion:
        if not self.answer_filters:
            return completion
        text, counts = scrub_text(completion.text, self.answer_filters)
        _record_filters(draft, counts)
        return dataclasses.replace(completion, text=text)

    # -- the audit invariant ---------------------------------------------------------------------

    @contextmanager
    def _audited(self, kind: AuditKind, principal: Principal, request_id: str, text: str) -> Iterator[Draft]:
        """Exactly one row per request, written before anything is returned, whatever happens.

        A ``GatewayError`` below 500 is ``refused``; anything else (5xx, and every unexpected
        exception) is ``failed``. If the row cannot be written the caller gets 503 and no answer.
        """
        draft = Draft(kind=kind, principal=principal, request_id=request_id, question=text)
        if self.pii is None:
            draft.audit_question = text
        try:
            if self.limiter is not None:
                self.limiter.check(principal)  # refused (429) or 503: audited like every refusal
            if len(text) > self.max_question_chars:
                raise InvalidRequest(f"at most {self.max_question_chars} characters are accepted")
            if self.pii is not None:  # until this succeeds the row keeps no question at all
                with draft.timings.stage("pii_question"):
                    draft.audit_question = self.pii.redact(text, visible=self.pii.policy.answers.audit_visible).text
            draft.view = self.policy.current()  # one policy per request
            yield draft
        except (Exception, GeneratorExit) as exc:  # GeneratorExit: a streaming client went away
            draft.status = "refused" if isinstance(exc, GatewayError) and exc.status_code < 500 else "failed"
            draft.fields = {"retrieved": draft.fields.get("retrieved", ())}
            error = exc.code if isinstance(exc, GatewayError) else "internal_error"
            details = (
                {"error": error} if isinstance(exc, GatewayError) else {"error": error, "exc_type": type(exc).__name__}
            )
            self._write(draft.record(details))
            raise
        self._write(draft.record())

    def _write(self, record: AuditRecord) -> None:
        try:
            self.audit.append(record)
        except GatewayError:
            self.metrics.audit_failures.inc()
            raise

    # -- stages ----------------------------------------------------------------------------------

    def _retrieve(self, draft: Draft, k: int, collections: frozenset[str] | None, one_per_document: bool) -> list[Hit]:
        view, principal, timings = _view(draft), draft.principal, draft.timings
        with timings.stage("authorize"):
            acl = view.compile_filter(principal)
        with timings.stage("embed"):
            vector = self.stages.embed.run(lambda: self.embedder.embed([draft.question])[0])
        request = SearchRequest(
            text=draft.question,
            vector=vector,
            acl=acl,
            k=k,
            collections=collections,
            one_per_document=one_per_document,
            fusion=self._fusion(draft.question, k),
        )
        with timings.stage("retrieve"):
            hits = self.stages.retrieve.run(lambda: self.retriever.search(request))
        with timings.stage("recheck"):
            checked = recheck(hits, principal=principal, view=view, acl=acl, scope=collections, states=self.states)
        draft.dates = checked.dates
        self._report_drops(principal, checked.dropped)
        with timings.stage("rescreen"):
            kept = self._rescreen(draft, checked.kept)
        for name, ms in timings.stages.items():
            self.metrics.stage_latency.labels(stage=name).observe(ms / 1000)
        return kept

    def _generate(self, question: str, hits: list[Hit], context: AskContext) -> Completion:
        """The model backend. A backend that cannot be reached (``OSError``: connection refused or
        reset, a socket timeout) is a 503 ``model_unavailable``; any other exception stays a bug (500)."""
        try:
            return self.generator.generate(question, hits, context)
        except OSError as exc:
            log.error("model backend unreachable", exc_info=exc)
            raise ModelUnavailable() from exc

    def _rescreen(self, draft: Draft, hits: list[Hit]) -> list[Hit]:
        """The second line against poisoning: retrieved passages with hidden characters or
        instruction patterns are dropped before any generator sees them, and recorded."""
        kept: list[Hit] = []
        dropped: list[dict[str, Any]] = []
        for hit in hits:
            verdict = self.rescreen.inspect(hit.text)
            if self.rescreen.flags(verdict):
                dropped.append({"chunk_id": hit.chunk_id, "document_id": hit.document_id, **verdict.summary()})
                self.metrics.security_events.labels(event="rescreen_drop").inc()
            else:
                kept.append(hit)
        guards = draft.fields.setdefault("guards", {})
        guards["rescreen"] = {"guard": self.rescreen.name, "version": self.rescreen.version, "dropped": dropped}
        return kept

    def _check_links(self, draft: Draft, completion: Completion, hits: list[Hit]) -> Completion:
        """Links and images in the answer that none of the cited passages contains are removed."""
        cited = {c.chunk_id for c in completion.citations}
        sources = [h.text for h in hits if h.chunk_id in cited] or [h.text for h in hits]
        checked = strip_unsourced_links(completion.text, sources)
        if not checked.removed:
            return completion
        draft.fields.setdefault("guards", {})["answer_links"] = {"removed": len(checked.removed)}
        return dataclasses.replace(completion, text=checked.text)

    def _scrub_answer(self, draft: Draft, completion: Completion) -> Completion:
        """The PII guard: the caller sees what policy lets its principals see, the audit row keeps
        less (``audit_visible``); counts per type go to the row's guard outcomes and to metrics."""
        if self.pii is None:
            return completion
        rules = self.pii.policy.answers
        visible = rules.visible_to(_view(draft).expand(draft.principal))
        scrubbed = scrub_for(self.pii, completion.text, visible=visible, audit_visible=rules.audit_visible)
        self._pii_outcome(draft, scrubbed.counts, scrubbed.detected, scrubbed.audited)
        return dataclasses.replace(completion, text=scrubbed.shown)

    def _pii_filter(self, draft: Draft) -> PiiAnswerFilter | None:
        """The PII guard as a streaming filter, with what this caller may see."""
        if self.pii is None:
            return None
        return PiiAnswerFilter(self.pii, self.pii.policy.answers.visible_to(_view(draft).expand(draft.principal)))

    def _record_pii(self, draft: Draft, shown: str, replaced: dict[str, int]) -> None:
        """After a stream: the audit's copy of what was shown (``audit_visible``), and the counts."""
        if self.pii is None:  # pragma: no cover - only called with a PII filter
            return
        audited = self.pii.redact(shown, visible=self.pii.policy.answers.audit_visible)
        detected = dict(Counter(replaced) + Counter(audited.counts))
        self._pii_outcome(draft, replaced, detected, audited.text)

    def _pii_outcome(self, draft: Draft, replaced: dict[str, int], detected: dict[str, int], audited: str) -> None:
        if self.pii is None:  # pragma: no cover - only called with the guard on
            return
        draft.fields.setdefault("guards", {})["pii"] = {
            "guard": self.pii.name,
            "version": self.pii.version,
            "replaced": replaced,
            "detected": detected,
        }
        draft.fields["audit_answer"] = audited
        for entity, n in replaced.items():
            self.metrics.pii_entities.labels(entity=entity).inc(n)

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

    def _report_drops(self, principal: Principal, dropped: list[tuple[Hit, str]]) -> None:
        """Every dropped hit is counted; mismatches and stale chunks are security events."""
        for hit, reason in dropped:
            self.metrics.recheck_drops.labels(reason=reason).inc()
            if reason not in SECURITY_EVENTS:
                continue
            self.metrics.security_events.labels(event=reason).inc()
            log.error(
                "security event: a retrieved hit failed the re-check against the registry and policy",
                extra={
                    "event": reason,
                    "chunk_id": hit.chunk_id,
                    "document_id": hit.document_id,
                    "version": hit.version,
                    "subject": principal.subject,
                },
            )


def _context(draft: Draft) -> AskContext:
    return AskContext(tenant=draft.principal.tenant, dates=draft.dates)


def _record_filters(draft: Draft, counts: dict[str, int]) -> None:
    guards = draft.fields.setdefault("guards", {})
    for name, n in counts.items():
        if n:
            guards[name] = {"removed": n}


def _view(draft: Draft) -> PolicyView:
    if draft.view is None:  # pragma: no cover - _audited sets it before the body runs
        raise RuntimeError("no policy view")
    return draft.view


def _refs(hits: list[Hit]) -> tuple[RetrievedRef, ...]:
    return tuple(RetrievedRef(h.chunk_id, h.document_id, h.version, round(h.score, 6)) for h in hits)
