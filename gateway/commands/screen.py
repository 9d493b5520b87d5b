"""``gateway screen rescan``: re-run the current detectors over indexed documents (after a detector
upgrade) and quarantine the newly flagged ones, with a progress bar.

A flagged document leaves the index the way a quarantined submission never enters it: in one
transaction its registry row becomes ``quarantined`` (searches stop serving its chunks at once,
``gateway.retrieval.recheck``), its text goes to the quarantine for review, and one audit row
records the change; then its chunks are deleted from the index. A summary row closes the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import select

from gateway.audit.record import AuditRecord
from gateway.commands.operator import Operator
from gateway.errors import GatewayError
from gateway.ingest.documents import DocumentInput
from gateway.ingest.models import DocumentRow
from gateway.ingest.prepare import PreparedDocument
from gateway.ingest.quarantine import QuarantineStore
from gateway.ingest.screen import screen as run_steps
from gateway.observability import new_request_id
from gateway.retrieval.base import ChunkTexts
from gateway.retrieval.chunking import chunk_text

if TYPE_CHECKING:
    from gateway.deps import Services

console = Console(stderr=True)


@dataclass
class RescanReport:
    scanned: int = 0
    quarantined: list[str] = field(default_factory=list)
    skipped: int = 0
    """Documents whose text the backend could not list."""


def indexed_documents(services: Services, tenant: str, collection: str | None) -> list[DocumentRow]:
    stmt = select(DocumentRow).where(DocumentRow.tenant == tenant, DocumentRow.status == "indexed")
    if collection:
        stmt = stmt.where(DocumentRow.collection == collection)
    return services.documents.registry._query(lambda s: list(s.execute(stmt.order_by(DocumentRow.id)).scalars()))


def rescan(
    services: Services, operator: Operator, tenant: str, collection: str | None,
    advance: Callable[[], None] = lambda: None,
) -> RescanReport:  # fmt: skip
    """Screen every indexed document of ``tenant`` (optionally one collection) with the current steps."""
    retriever = services.retriever
    if not isinstance(retriever, ChunkTexts):
        raise click.ClickException("this search backend cannot list a document's chunks; rescan needs the embedded one")
    report = RescanReport()
    request_id = new_request_id()
    for row in indexed_documents(services, tenant, collection):
        advance()
        texts = retriever.document_texts(tenant, row.document_id)
        if not texts:
            report.skipped += 1
            continue
        report.scanned += 1
        doc = _document(row, "\n\n".join(texts))
        chunking = services.settings.chunking
        spans = chunk_text(doc.text, max_tokens=chunking.max_tokens, overlap_tokens=chunking.overlap_tokens)
        prepared = PreparedDocument(doc=doc, spans=tuple(spans), raw=doc.text.encode())
        outcome = run_steps(prepared, services.documents.steps, tenant=tenant)
        if outcome.quarantined:
            _quarantine(services, operator, tenant, row, doc, outcome.evidence, outcome.quarantine, request_id)
            report.quarantined.append(row.document_id)
    details = {**operator.details(), "collection": collection, "scanned": report.scanned,
               "quarantined": len(report.quarantined), "skipped": report.skipped}  # fmt: skip
    services.audit.append(_record(operator, tenant, request_id, "screen.rescan", details))
    return report


def _document(row: DocumentRow, text: str) -> DocumentInput:
    acl = row.acl or {}
    return DocumentInput(
        document_id=row.document_id, title=row.title, text=text, collection=row.collection,
        allow=tuple(acl.get("allow", ())), deny=tuple(acl.get("deny", ())), labels=tuple(row.labels or ()),
        source_uri=row.source_uri, mime_type="text/plain", updated_at=row.updated_at,
    )  # fmt: skip


def _quarantine(
    services: Services, operator: Operator, tenant: str, row: DocumentRow, doc: DocumentInput,
    evidence: tuple[object, ...], reasons: tuple[str, ...], request_id: str,
) -> None:  # fmt: skip
    store = services.documents.quarantine or QuarantineStore(services.engine)
    with services.audit.transaction() as tx:
        services.documents.registry.set_status(tx.connection, tenant, row.document_id, "quarantined", chunks=0)
        qid = store.add(
            tx.connection, tenant=tenant, doc=doc, submitted_by=f"rescan ({row.document_id} v{row.version})",
            request_id=request_id, reasons=[dict(e) for e in evidence if isinstance(e, dict)],
        )  # fmt: skip
        details = {**operator.details(), "document_id": row.document_id, "version": row.version,
                   "quarantine_id": qid, "reasons": list(reasons)}  # fmt: skip
        tx.append(_record(operator, tenant, request_id, "document.quarantine", details))
    try:
        services.retriever.delete_document(tenant, row.document_id)
    except GatewayError:  # the registry already hides it; the next compaction or rescan cleans up
        console.print(f"[yellow]{row.document_id}: quarantined, chunks not yet removed from the index[/yellow]")


def _record(operator: Operator, tenant: str, request_id: str, action: str, details: dict[str, object]) -> AuditRecord:
    return AuditRecord.of(
        operator.principal(tenant), request_id=request_id, kind="admin", status="ok", policy_version=-1,
        action=action, details=details,
    )  # fmt: skip


@click.group()
def screen() -> None:
    """Poisoning screening of what is already indexed."""


@screen.command("rescan")
@click.option("--tenant", default="default", show_default=True)
@click.option("--collection", default=None, help="only this collection")
@click.pass_obj
def rescan_cmd(operator: Operator, tenant: str, collection: str | None) -> None:
    """Re-run the current detectors over indexed documents; quarantine the newly flagged ones."""
    from gateway.cli import _settings  # noqa: PLC0415 - the CLI's one settings loader
    from gateway.deps import build_services  # noqa: PLC0415

    services = build_services(_settings())
    services.start()
    try:
        total = len(indexed_documents(services, tenant, collection))
        columns = (TextColumn("rescan"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("rescan", total=total)
            report = rescan(services, operator, tenant, collection, lambda: progress.update(task, advance=1))
    finally:
        services.close()
    click.echo(
        f"rescanned tenant '{tenant}': {report.scanned} screened, {len(report.quarantined)} quarantined"
        + (f" ({', '.join(report.quarantined[:10])})" if report.quarantined else "")
        + (f", {report.skipped} without indexed text" if report.skipped else "")
    )
