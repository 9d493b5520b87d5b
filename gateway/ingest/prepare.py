"""Prepare: validate, parse and chunk one submitted document, within the bounds of ``IngestLimits``.

This is the part of ingest that costs CPU in proportion to what a caller sends (a 19 MB text kept a
core busy for minutes), so it is a pure function of plain values: ``gateway.ingest.workers`` runs
it in a niced worker process that is killed when it overruns its time.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import InvalidRequest
from gateway.ingest.documents import DocumentInput, Submission, validate_target
from gateway.ingest.parsers import parse_document
from gateway.retrieval.chunking import ChunkSpan, chunk_text, estimate_tokens


class DocumentTooLarge(InvalidRequest):
    """The document would cost more than one document may (chunks, bytes or parse time)."""

    status_code = 413
    code = "document_too_large"
    title = "Document too large"


@dataclass(frozen=True, slots=True)
class IngestLimits:
    """What one document may cost."""

    max_bytes: int
    max_chunks: int
    chunk_tokens: int
    overlap_tokens: int


@dataclass(frozen=True, slots=True)
class PreparedDocument:
    """A validated document, its text and its chunks: everything indexing needs but the vectors."""

    doc: DocumentInput
    spans: tuple[ChunkSpan, ...]
    hidden_text_removed: int = 0
    """HTML elements hidden from a reader and dropped by the parser (a poisoning signal)."""


def prepare(submission: Submission, limits: IngestLimits) -> PreparedDocument:
    """Validate, parse and chunk; every refusal is a 4xx ``GatewayError`` raised before any write.

    Raises:
        InvalidRequest: a malformed document, id, collection, ACL or label.
        DocumentTooLarge: over ``max_bytes``, or more than ``max_chunks`` chunks.
    """
    validate_target(submission.document_id, submission.collection)  # cheap checks before parsing
    if submission.size > limits.max_bytes:
        raise DocumentTooLarge(f"the document is larger than {limits.max_bytes} bytes")
    hidden = 0
    title = submission.title
    if submission.content is not None:
        parsed = parse_document(
            submission.content, submission.mime_type, filename=submission.filename, max_bytes=limits.max_bytes
        )
        text, title, hidden = parsed.text, title or parsed.title, parsed.hidden_text_removed
    else:
        text = submission.text or ""  # inline text is indexed as sent (the API's contract)
    doc = _input(submission, text, title)
    doc.validate()
    _check_size(text, limits)
    spans = chunk_text(text, max_tokens=limits.chunk_tokens, overlap_tokens=limits.overlap_tokens)
    if not spans:
        raise InvalidRequest("the document has no indexable text")
    if len(spans) > limits.max_chunks:
        raise DocumentTooLarge(f"the document would need {len(spans)} chunks; at most {limits.max_chunks} are indexed")
    return PreparedDocument(doc=doc, spans=tuple(spans), hidden_text_removed=hidden)


def _check_size(text: str, limits: IngestLimits) -> None:
    """Refuse before chunking when even a lower bound on the chunk count is over the limit."""
    stride = max(limits.chunk_tokens - limits.overlap_tokens, 1)
    if estimate_tokens(text) // stride > limits.max_chunks:
        raise DocumentTooLarge(f"the document would need more than {limits.max_chunks} chunks")


def _input(submission: Submission, text: str, title: str | None) -> DocumentInput:
    return DocumentInput(
        document_id=submission.document_id,
        title=(title or submission.document_id).strip()[:1000] or submission.document_id,
        text=text,
        collection=submission.collection,
        allow=submission.allow,
        deny=submission.deny,
        labels=submission.labels,
        source_uri=submission.source_uri,
        mime_type=submission.mime_type,
        updated_at=submission.updated_at,
    )
