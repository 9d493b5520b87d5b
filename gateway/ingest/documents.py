"""What is ingested: the submitted document (validated, hashed) and the outcome."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime

from gateway.errors import InvalidRequest

# Ids, collections and principals end up in index terms and filters: keep them to a safe charset.
# Always ``fullmatch``: with ``re.match`` and ``$`` a trailing newline would pass.
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@-]{0,255}")
_COLLECTION_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_PRINCIPAL_RE = re.compile(r"(user|group|role):[A-Za-z0-9._@:/-]{1,200}")
# Labels are free text for people, but end up as index values: printable, no separators or controls.
_LABEL_RE = re.compile(r"[^\x00-\x1f\x7f-\x9f]{1,128}")
MAX_TITLE_CHARS = 1000


@dataclass(frozen=True)
class DocumentInput:
    """A document as submitted (already parsed to text)."""

    document_id: str
    title: str
    text: str
    collection: str
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    source_uri: str | None = None
    mime_type: str = "text/plain"
    updated_at: datetime | None = None

    def validate(self) -> None:
        """Everything a backend or the registry would refuse is refused here, before any write."""
        validate_target(self.document_id, self.collection)
        for p in (*self.allow, *self.deny):
            if not _PRINCIPAL_RE.fullmatch(p):
                raise InvalidRequest("ACL entries must look like user:<sub>, group:<name> or role:<name>")
        for label in self.labels:
            if not _LABEL_RE.fullmatch(label) or not label.strip():
                raise InvalidRequest("labels must be 1-128 printable characters")
        if len(self.title) > MAX_TITLE_CHARS or "\x1f" in self.title:
            raise InvalidRequest("the title is too long or holds control characters")
        if not self.text.strip():
            raise InvalidRequest("the document has no text")

    def content_hash(self) -> str:
        payload = {
            "title": self.title,
            "text": self.text,
            "collection": self.collection,
            "allow": sorted(set(self.allow)),
            "deny": sorted(set(self.deny)),
            "labels": sorted(set(self.labels)),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def validate_target(document_id: str, collection: str) -> None:
    """Raise ``InvalidRequest`` unless the id and the collection have the safe shapes."""
    if not _ID_RE.fullmatch(document_id):
        raise InvalidRequest("document id must be 1-256 characters of letters, digits and ._:/@-")
    if not _COLLECTION_RE.fullmatch(collection):
        raise InvalidRequest("collection must be 1-64 lowercase letters, digits and ._-")


def valid_document_id(document_id: str) -> bool:
    return _ID_RE.fullmatch(document_id) is not None


@dataclass(frozen=True)
class Submission:
    """A document as a caller sent it, before parsing: inline ``text`` or raw ``content`` bytes."""

    document_id: str
    collection: str
    title: str | None = None
    text: str | None = None
    content: bytes | None = None
    mime_type: str = "text/plain"
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    source_uri: str | None = None
    updated_at: datetime | None = None
    filename: str | None = None

    @property
    def size(self) -> int:
        """Bytes to parse (inline text counted as UTF-8)."""
        return len(self.content) if self.content is not None else len((self.text or "").encode())


@dataclass(frozen=True)
class IngestResult:
    document_id: str
    version: int
    status: str
    created: bool
    """False when the same content was already indexed (idempotent no-op)."""
    chunk_count: int = 0
    reasons: tuple[str, ...] = ()
    """Why a document was quarantined (screening), empty otherwise."""
