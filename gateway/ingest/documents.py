"""What is ingested: the submitted document (validated, hashed) and the outcome."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime

from gateway.errors import InvalidRequest

# Ids, collections and principals end up in index terms and filters: keep them to a safe charset.
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,255}$")
_COLLECTION_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_PRINCIPAL_RE = re.compile(r"^(user|group|role):[A-Za-z0-9._@:/-]{1,200}$")


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
        if not _ID_RE.match(self.document_id):
            raise InvalidRequest("document id must be 1-256 characters of letters, digits and ._:/@-")
        if not _COLLECTION_RE.match(self.collection):
            raise InvalidRequest("collection must be 1-64 lowercase letters, digits and ._-")
        for p in (*self.allow, *self.deny):
            if not _PRINCIPAL_RE.match(p):
                raise InvalidRequest("ACL entries must look like user:<sub>, group:<name> or role:<name>")
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


@dataclass(frozen=True)
class IngestResult:
    document_id: str
    version: int
    status: str
    created: bool
    """False when the same content was already indexed (idempotent no-op)."""
    chunk_count: int = 0
