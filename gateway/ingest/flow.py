"""The one ingest flow, for the API and the CLI alike: prepare → screen → index → record.

**Prepare** validates, parses and chunks within ``IngestLimits``, in a killable worker
(``gateway.ingest.workers``). **Screen** runs the configured ``ScreenStep``s (``gateway.ingest.screen``).
**Index** embeds and writes the chunks. **Record** commits the registry. Authorisation comes first,
against the target collection *and* the document as it exists: an update needs read and write on
the existing document (its collection and its own ACL) and write on the new collection; a caller
who cannot read the existing document gets the 404 of an absent id.

The index cannot share a database transaction, so every index write is bracketed by two:
transaction A assigns the version (in the database) and writes the *intent* row (``pending``);
transaction B commits the version to the registry with the *outcome* row (``ok``). Searches serve a
chunk only when its version is the registry's committed one (``gateway.retrieval.recheck``), so a
version becomes visible exactly when its outcome row commits. If the index write fails, the outcome
row says ``failed`` and the registry still describes the old, still searchable version. If
transaction B fails, the intent row stands alone and the new chunks are never served.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from gateway.audit.log import AuditLog, AuditTransaction
from gateway.authz.rules import PII_RESTRICTED
from gateway.authz.service import DocumentRef
from gateway.authz.view import NOT_READABLE, PolicyView
from gateway.errors import GatewayError, NotFound, PermissionDenied, SearchUnavailable
from gateway.ingest.documents import DocumentInput, IngestResult, Submission, validate_target
from gateway.ingest.indexer import build_chunks
from gateway.ingest.locks import DocumentLocks
from gateway.ingest.models import DocumentRow
from gateway.ingest.prepare import IngestLimits, PreparedDocument
from gateway.ingest.quarantine import QuarantineStore
from gateway.ingest.registry import DocumentRegistry
from gateway.ingest.screen import ScreenOutcome, ScreenStep, screen
from gateway.ingest.trail import Context, DocumentTrail
from gateway.ingest.workers import IngestWorkers
from gateway.retrieval.base import Chunk, Retriever
from gateway.retrieval.chunking import chunk_text
from gateway.retrieval.embed import Embedder

log = logging.getLogger("gateway.ingest")

NO_SUCH_DOCUMENT = "no such document"
EXISTING = frozenset({"indexed", "deleting", "failed", "quarantined", "pending"})
"""Registry states in which an id counts as taken (for the update checks)."""


@dataclass(frozen=True)
class _Admitted:
    prepared: PreparedDocument
    digest: str
    outcome: ScreenOutcome
    existing: DocumentRow | None


@dataclass
class IngestFlow:
    """Runs the flow; ``DocumentService`` owns one."""

    registry: DocumentRegistry
    locks: DocumentLocks
    retriever: Retriever
    embedder: Embedder
    audit: AuditLog
    workers: IngestWorkers
    limits: IngestLimits
    steps: Sequence[ScreenStep] = ()
    quarantine: QuarantineStore | None = None
    """Where quarantined submissions are kept for review (their own row, in the outcome transaction)."""

    @property
    def trail(self) -> DocumentTrail:
        return DocumentTrail(self.audit)

    def put_many(
        self,
        ctx: Context,
        view: PolicyView,
        submissions: Iterable[Submission],
        *,
        checked: bool = True,
        batch_chunks: int = 256,
        progress: Callable[[IngestResult], None] | None = None,
        on_refused: Callable[[Submission, GatewayError], None] | None = None,
    ) -> list[IngestResult]:
        """Ingest documents in the caller's tenant, about ``batch_chunks`` chunks per index write.

        ``checked=False`` skips the permission check: the operator CLI, which runs with the data
        dir's rights (and audits with the operator's OS identity). A refused document (4xx) raises,
        or, with ``on_refused``, is reported there and skipped.
        """
        results: list[IngestResult] = []
        batch: list[_Admitted] = []
        for submission in submissions:
            try:
                admitted = self._admit(ctx, view, submission, checked)
            except GatewayError as exc:
                if on_refused is None or exc.status_code >= 500:
                    raise
                on_refused(submission, exc)
                continue
            if isinstance(admitted, IngestResult):
                _report(results, [admitted], progress)
                continue
            batch.append(admitted)
            if sum(len(a.prepared.spans) for a in batch) >= batch_chunks:
                _report(results, self._write(ctx, view, batch), progress)
                batch = []
        if batch:
            _report(results, self._write(ctx, view, batch), progress)
        return results

    def put_approved(self, ctx: Context, view: PolicyView, doc: DocumentInput) -> IngestResult:
        """Index a reviewed submission exactly as it was submitted: prepared again (chunking is
        deterministic), not screened again, written and recorded like any other version."""
        spans = chunk_text(doc.text, max_tokens=self.limits.chunk_tokens, overlap_tokens=self.limits.overlap_tokens)
        prepared = PreparedDocument(doc=doc, spans=tuple(spans))
        existing = self.registry.get(ctx.principal.tenant, doc.document_id)
        existing = existing if existing is not None and existing.status in EXISTING else None
        # Screened again for its labels (the PII label restricts the document to the PII readers);
        # the reviewer's approval overrides any quarantine reason.
        screened = screen(prepared, self.steps, tenant=ctx.principal.tenant)
        labels = screened.labels | {"poisoning": {"action": "approved"}}
        outcome = ScreenOutcome(labels=labels, quarantine=(), verdicts=screened.verdicts)
        admitted = _Admitted(restrict_pii(prepared, outcome), doc.content_hash(), outcome, existing)
        return self._write(ctx, view, [admitted])[0]

    def _admit(self, ctx: Context, view: PolicyView, submission: Submission, checked: bool) -> _Admitted | IngestResult:
        """Authorise, prepare, detect a no-op and screen: everything before the first write."""
        tenant = ctx.principal.tenant
        validate_target(submission.document_id, submission.collection)  # 400 before anything else
        existing = self.registry.get(tenant, submission.document_id)
        existing = existing if existing is not None and existing.status in EXISTING else None
        if checked:
            self._authorise_put(ctx, view, submission, existing)
        try:
            prepared = self.workers.prepare(submission, self.limits)
        except GatewayError as exc:
            if exc.status_code < 500:
                self.trail.refuse(ctx, view, "ingest", "document.put", submission.document_id, exc.code)
            raise
        digest = prepared.doc.content_hash()
        unchanged = existing is not None and existing.content_hash == digest and existing.status == "indexed"
        if existing is not None and unchanged and not _missing_pii_marker(existing):
            details = {"document_id": existing.document_id, "version": existing.version, "changed": False}
            self.audit.append(self.trail.record(ctx, view, "ingest", "ok", "document.put", details))
            return IngestResult(existing.document_id, existing.version, "indexed", False, existing.chunk_count)
        outcome = screen(prepared, self.steps, tenant=tenant)
        return _Admitted(restrict_pii(prepared, outcome), digest, outcome, existing)

    def _authorise_put(
        self, ctx: Context, view: PolicyView, submission: Submission, existing: DocumentRow | None
    ) -> None:
        """Write on the target collection first (its refusal says nothing about the id), then read
        and write on the existing document: unreadable is the same 404 as for an absent id."""
        principal, document_id = ctx.principal, submission.document_id
        if not view.may_write_collection(principal, submission.collection).allowed:
            self.trail.refuse(ctx, view, "ingest", "document.put", document_id, "no_write_on_collection")
            raise PermissionDenied("you may not write to this collection")
        if existing is None:
            return
        decision = view.may_change_document(principal, document_ref(existing))
        if decision is NOT_READABLE:
            self.trail.refuse(ctx, view, "ingest", "document.put", document_id, "not_readable")
            raise NotFound(NO_SUCH_DOCUMENT)
        if not decision.allowed:
            self.trail.refuse(ctx, view, "ingest", "document.put", document_id, "no_write_on_document")
            raise PermissionDenied("you may not change this document")

    def _write(self, ctx: Context, view: PolicyView, batch: list[_Admitted]) -> list[IngestResult]:
        """Intent → index → outcome for a batch, holding the documents' write locks throughout."""
        tenant = ctx.principal.tenant
        with self.workers.slot(), self.locks.hold(tenant, [a.prepared.doc.document_id for a in batch]):
            versions = self._intend(ctx, view, batch)
            indexed = [(a, v) for a, v in zip(batch, versions, strict=True) if not a.outcome.quarantined]
            try:
                chunk_lists = build_chunks(self.embedder, tenant, [(a.prepared, v) for a, v in indexed])
                items = [
                    (tenant, a.prepared.doc.document_id, c) for (a, _), c in zip(indexed, chunk_lists, strict=True)
                ]
                if items:
                    self.retriever.replace_documents(items)
            except Exception as exc:
                self._index_failed(ctx, view, batch, versions, exc)
                raise as_gateway_error(exc) from exc
            chunks = {a.prepared.doc.document_id: c for (a, _), c in zip(indexed, chunk_lists, strict=True)}
            return self._commit(ctx, view, batch, versions, chunks)

    def _intend(self, ctx: Context, view: PolicyView, batch: list[_Admitted]) -> list[int]:
        """Transaction A: database-assigned versions and one ``pending`` intent row per document."""
        versions: list[int] = []
        with self.audit.transaction() as tx:
            for admitted in batch:
                doc = admitted.prepared.doc
                version = self.registry.assign_version(tx.connection, ctx.principal.tenant, doc)
                versions.append(version)
                details = _put_details(admitted, version) | {"phase": "intent"}
                tx.append(self.trail.record(ctx, view, "ingest", "pending", "document.put", details))
        return versions

    def _commit(
        self,
        ctx: Context,
        view: PolicyView,
        batch: list[_Admitted],
        versions: list[int],
        chunks: dict[str, list[Chunk]],
    ) -> list[IngestResult]:
        """Transaction B: the registry says what is now searchable, with one outcome row each."""
        results: list[IngestResult] = []
        with self.audit.transaction() as tx:
            for admitted, version in zip(batch, versions, strict=True):
                results.append(self._commit_one(ctx, view, tx, admitted, version, chunks))
        for result in results:
            log.info("document %s", result.status, extra={"document_id": result.document_id, "version": result.version})
        return results

    def _commit_one(
        self,
        ctx: Context,
        view: PolicyView,
        tx: AuditTransaction,
        admitted: _Admitted,
        version: int,
        chunks: dict[str, list[Chunk]],
    ) -> IngestResult:
        doc, tenant = admitted.prepared.doc, ctx.principal.tenant
        guards = {"screening": list(admitted.outcome.verdicts)} if admitted.outcome.verdicts else {}
        if admitted.outcome.quarantined:
            # Never indexed: the submission is kept for review; a new document is marked.
            if admitted.existing is None or admitted.existing.version == 0:
                self.registry.set_status(tx.connection, tenant, doc.document_id, "quarantined")
            quarantine_id = None
            if self.quarantine is not None:
                quarantine_id = self.quarantine.add(
                    tx.connection, tenant=tenant, doc=doc, submitted_by=ctx.principal.subject,
                    request_id=ctx.request_id, reasons=admitted.outcome.evidence,
                )  # fmt: skip
            details = _put_details(admitted, version) | {"reasons": list(admitted.outcome.quarantine)}
            details |= {"quarantined": True, "quarantine_id": quarantine_id}
            tx.append(self.trail.record(ctx, view, "ingest", "ok", "document.put", details, guards))
            return IngestResult(
                doc.document_id, version, "quarantined", True, 0, admitted.outcome.quarantine,
                findings=admitted.outcome.evidence, quarantine_id=quarantine_id,
            )  # fmt: skip
        count = len(chunks[doc.document_id])
        committed = self.registry.commit_version(
            tx.connection, tenant, doc, digest=admitted.digest, version=version, chunks=count,
            screening=admitted.outcome.labels,
        )  # fmt: skip
        details = _put_details(admitted, version) | {"chunks": count, "changed": True, "superseded": not committed}
        tx.append(self.trail.record(ctx, view, "ingest", "ok", "document.put", details, guards))
        return IngestResult(doc.document_id, version, "indexed", True, count)

    def _index_failed(
        self, ctx: Context, view: PolicyView, batch: list[_Admitted], versions: list[int], exc: BaseException
    ) -> None:
        """Outcome rows ``failed``; a document that never had a searchable version is marked failed.
        Existing documents keep their registry row: the old version is still what is searchable."""
        log.error("index write failed", extra={"documents": len(batch), "exc_type": type(exc).__name__})
        details = [_put_details(a, v) for a, v in zip(batch, versions, strict=True)]
        new = [a.prepared.doc.document_id for a in batch if a.existing is None or a.existing.version == 0]

        def mark(tx: AuditTransaction) -> None:
            for document_id in new:
                self.registry.set_status(tx.connection, ctx.principal.tenant, document_id, "failed")

        self.trail.failure(ctx, view, "ingest", "document.put", details, exc, mark)


def restrict_pii(prepared: PreparedDocument, outcome: ScreenOutcome) -> PreparedDocument:
    """A PII-bearing document gets ``pii:restricted`` in its deny list, in the registry and in the
    index alike: every caller holding none of the PII policy's readers is denied it (see
    ``PolicySnapshot``). The content hash stays the submission's, so a re-put is still a no-op."""
    pii = outcome.labels.get("pii")
    bearing = isinstance(pii, Mapping) and pii.get("bearing") is True
    if outcome.quarantined or not bearing or PII_RESTRICTED in prepared.doc.deny:
        return prepared
    return replace(prepared, doc=replace(prepared.doc, deny=(*prepared.doc.deny, PII_RESTRICTED)))


def _missing_pii_marker(row: DocumentRow) -> bool:
    """A PII-bearing document indexed without the marker (ingested before the restriction existed):
    a re-put of the same content writes it again, with the marker, instead of being a no-op."""
    pii = (row.screening or {}).get("pii")
    bearing = isinstance(pii, Mapping) and pii.get("bearing") is True
    return bearing and PII_RESTRICTED not in (row.acl or {}).get("deny", ())


def document_ref(row: DocumentRow) -> DocumentRef:
    """What the policy needs to decide on a registered document."""
    acl = row.acl or {}
    return DocumentRef(
        tenant=row.tenant,
        collection=row.collection,
        allow=tuple(acl.get("allow", ())),
        deny=tuple(acl.get("deny", ())),
        document_id=row.document_id,
    )


def _put_details(admitted: _Admitted, version: int) -> dict[str, Any]:
    doc = admitted.prepared.doc
    details: dict[str, Any] = {"document_id": doc.document_id, "version": version, "collection": doc.collection}
    if admitted.existing is not None and admitted.existing.collection != doc.collection:
        details["previous_collection"] = admitted.existing.collection
    if admitted.outcome.labels:
        details["screening"] = admitted.outcome.labels
    return details


def _report(
    results: list[IngestResult], new: Sequence[IngestResult], progress: Callable[[IngestResult], None] | None
) -> None:
    results.extend(new)
    if progress is not None:
        for result in new:
            progress(result)


def as_gateway_error(exc: BaseException) -> GatewayError:
    if isinstance(exc, GatewayError):
        return exc
    return SearchUnavailable("the search index could not be written")
