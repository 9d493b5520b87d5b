"""Documents: reads, deletes and the ingest flow (``gateway.ingest.flow``), each change and refusal audited.

Reads and deletes are authorised against the document as it exists; a caller who may not read it
gets the answer of an absent id (404), by the same path: one registry read, one Casbin decision and
one audit row either way, so neither the answer nor its timing tells the two apart. A delete hides
the document first (intent row), removes its chunks, then records the outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine

from gateway.audit.log import AuditLog
from gateway.audit.record import AuditKind
from gateway.auth.principal import Principal
from gateway.authz.service import DocumentRef, PolicyService
from gateway.authz.view import NOT_READABLE
from gateway.errors import GatewayError, NotFound, PermissionDenied, RateLimited
from gateway.ingest.documents import IngestResult, Submission
from gateway.ingest.flow import NO_SUCH_DOCUMENT, IngestFlow, as_gateway_error, document_ref
from gateway.ingest.locks import DocumentLocks
from gateway.ingest.models import DocumentRow
from gateway.ingest.prepare import IngestLimits
from gateway.ingest.quarantine import QuarantineStore
from gateway.ingest.registry import DocumentRegistry
from gateway.ingest.screen import ScreenStep
from gateway.ingest.trail import Context, DocumentTrail
from gateway.ingest.workers import IngestWorkers
from gateway.ratelimit import RequestLimiter
from gateway.retrieval.base import Retriever
from gateway.retrieval.embed import Embedder
from gateway.retrieval.recheck import DocumentState

__all__ = ["Context", "DocumentService", "document_ref"]

_GET_VISIBLE = frozenset({"indexed"})
_DELETABLE = frozenset({"indexed", "deleting", "failed", "quarantined"})


@dataclass
class DocumentService:
    """Owns the document registry and keeps it consistent with the retrieval backend."""

    engine: Engine
    retriever: Retriever
    embedder: Embedder
    policy: PolicyService
    audit: AuditLog
    limits: IngestLimits
    workers: IngestWorkers
    steps: Sequence[ScreenStep] = ()
    quarantine: QuarantineStore | None = None
    limiter: RequestLimiter | None = None
    """The ``control`` budget of API callers (``spend``); the operator's ``gateway ingest`` is not limited."""
    registry: DocumentRegistry = field(init=False)
    flow: IngestFlow = field(init=False)

    def __post_init__(self) -> None:
        self.registry = DocumentRegistry(self.engine)
        self.locks = DocumentLocks(self.engine)
        self.trail = DocumentTrail(self.audit)
        self.flow = IngestFlow(
            self.registry, self.locks, self.retriever, self.embedder, self.audit, self.workers, self.limits, self.steps,
            self.quarantine,
        )  # fmt: skip

    def shutdown(self) -> None:
        """Stop the parse workers (in-flight parses fail with 503)."""
        self.workers.shutdown()

    def spend(self, ctx: Context, kind: AuditKind, action: str, document_id: str) -> None:
        """One request of the caller's ``control`` budget, before any other work; a refusal (429) or an
        unreachable counter store (503) leaves its one audit row before it is raised."""
        if self.limiter is None:
            return
        try:
            self.limiter.check(ctx.principal, "control")
        except RateLimited as exc:
            self.trail.refuse(ctx, self.policy.current(), kind, action, document_id, exc.code)
            raise
        except GatewayError as exc:
            view = self.policy.current()
            self.trail.failure(ctx, view, kind, action, [{"document_id": document_id[:256]}], exc)
            raise

    def put(self, ctx: Context, submission: Submission) -> IngestResult:
        """Ingest one document as ``ctx.principal`` (permission checked): ``IngestFlow.put_many``."""
        return self.put_many(ctx, [submission])[0]

    def put_many(
        self,
        ctx: Context,
        submissions: Iterable[Submission],
        *,
        checked: bool = True,
        progress: Callable[[IngestResult], None] | None = None,
        on_refused: Callable[[Submission, GatewayError], None] | None = None,
    ) -> list[IngestResult]:
        """The ingest flow on one policy view for the whole call."""
        return self.flow.put_many(
            ctx, self.policy.current(), submissions, checked=checked, progress=progress, on_refused=on_refused
        )

    # -- reads -----------------------------------------------------------------------------------

    def get(self, ctx: Context, document_id: str) -> DocumentRow:
        """The registry row, if the caller may read the document; otherwise 404 (never 403).

        An absent id and a forbidden one take the same path (one small registry read, one Casbin
        decision, one audit row), so neither the answer nor its timing tells them apart
        (``bench/side_channel.py``); the full row is loaded only once the answer is yes.
        """
        view = self.policy.current()
        state = self._state(ctx.principal.tenant, document_id, _GET_VISIBLE)
        decision = view.can_read(ctx.principal, _ref_or_unreadable(state, ctx.principal, document_id))
        row = self.registry.get(ctx.principal.tenant, document_id) if state and decision.allowed else None
        if row is None:
            reason = "absent" if state is None else "not_readable"
            self.trail.refuse(ctx, view, "read", "document.get", document_id, reason)
            raise NotFound(NO_SUCH_DOCUMENT)
        return row

    def find(self, tenant: str, document_id: str) -> DocumentRow | None:
        """The live registry row, without a permission check (for admin explain)."""
        return self._row(tenant, document_id, _GET_VISIBLE)

    def _row(self, tenant: str, document_id: str, statuses: frozenset[str]) -> DocumentRow | None:
        row = self.registry.get(tenant, document_id)
        return row if row is not None and row.status in statuses else None

    def _state(self, tenant: str, document_id: str, statuses: frozenset[str]) -> DocumentState | None:
        state = self.registry.states(tenant, [document_id]).get(document_id)
        return state if state is not None and state.status in statuses else None

    # -- delete ----------------------------------------------------------------------------------

    def delete(self, ctx: Context, document_id: str) -> DocumentRow:
        """Hide the document (intent), remove its chunks, record the outcome; 404 like ``get``."""
        view = self.policy.current()
        tenant = ctx.principal.tenant
        state = self._state(tenant, document_id, _DELETABLE)
        decision = view.may_change_document(ctx.principal, _ref_or_unreadable(state, ctx.principal, document_id))
        if state is None or decision is NOT_READABLE:
            reason = "absent" if state is None else "not_readable"
            self.trail.refuse(ctx, view, "delete", "document.delete", document_id, reason)
            raise NotFound(NO_SUCH_DOCUMENT)
        if not decision.allowed:
            self.trail.refuse(ctx, view, "delete", "document.delete", document_id, "no_write")
            raise PermissionDenied("you may not delete this document")
        row = self.registry.get(tenant, document_id)
        if row is None:  # pragma: no cover - deleted between the two reads
            raise NotFound(NO_SUCH_DOCUMENT)
        details = {"document_id": document_id, "version": row.version, "collection": row.collection}
        with self.locks.hold(tenant, [document_id]):
            with self.audit.transaction() as tx:
                self.registry.set_status(tx.connection, tenant, document_id, "deleting")
                tx.append(
                    self.trail.record(ctx, view, "delete", "pending", "document.delete", details | {"phase": "intent"})
                )
            try:
                self.retriever.delete_document(tenant, document_id)
            except Exception as exc:
                self.trail.failure(ctx, view, "delete", "document.delete", [details], exc)
                raise as_gateway_error(exc) from exc
            with self.audit.transaction() as tx:
                self.registry.set_status(tx.connection, tenant, document_id, "deleted", chunks=0)
                tx.append(self.trail.record(ctx, view, "delete", "ok", "document.delete", details))
        return row


def _ref_or_unreadable(state: DocumentState | None, principal: Principal, document_id: str) -> DocumentRef:
    """The document's reference, or for an absent id one that denies the caller by its own document
    ACL: the same Casbin work as for a forbidden document, and the same outcome."""
    if state is not None:
        return DocumentRef(principal.tenant, state.collection, state.allow, state.deny, state.document_id)
    return DocumentRef(principal.tenant, "absent", (), (principal.user_principal,), document_id)
