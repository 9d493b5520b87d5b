"""Streaming compliance exports with a signed manifest.

Rows stream from the database in keyset pages of ``batch`` rows into the file (memory stays
bounded whatever the row count); the manifest beside it (``PATH.manifest.json``) says what was
exported and is signed with the audit key:

* ``format`` (:data:`EXPORT_FORMAT`), ``row_format`` (the canonical row contract), ``file_format``;
* ``filters``, ``content`` (``full`` or ``metadata``), ``contiguous`` (no row filter: the rows are
  one unbroken piece of the chain, retention stubs included);
* ``row_count``, ``first_sequence``, ``last_sequence``, the chain hashes at both ends
  (``first_prev_hash``, ``first_row_hash``, ``last_row_hash``);
* ``anchors``: the signed anchors covering the range (the nearest before it, those inside it, the
  nearest after it), so an outsider can tie the rows to signed chain heads;
* ``file``, ``file_sha256``, ``created_at``, ``key_id`` and ``signature`` (Ed25519 over the
  canonical JSON of every other field).

Every row carries its own ``sequence``, ``prev_hash`` and ``row_hash``, so the rows of a filtered
export (one subject, one tenant) are each verifiable: their own hash, and their position in the
chain. A ``metadata`` export shows each row as :func:`gateway.audit.visibility.visible_row` shows it to a
reader without audit-content rights (question and answer redacted, citation titles dropped) and adds
its ``content_hash``, so format 2 rows still re-hash exactly (see :mod:`gateway.audit.chain`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement

from gateway.audit.anchors import Anchor, AnchorStore, merge_anchors
from gateway.audit.chain import CANONICAL_VERSION, ROW_FIELDS, canonical_row, metadata_dict, rfc3339
from gateway.audit.formats import ChunkSink, FileFormat, open_writer
from gateway.audit.keys import AuditSigner, Keyring
from gateway.audit.log import AuditLog
from gateway.audit.models import AUDIT_TABLE as T

EXPORT_FORMAT = "gateway-audit-export/1"
CHUNK_BYTES = 64 * 1024
"""Bytes gathered before a chunk is handed on (file write or HTTP body)."""
FULL_COLUMNS: tuple[str, ...] = ROW_FIELDS
METADATA_COLUMNS: tuple[str, ...] = (*ROW_FIELDS, "content_redacted", "content_hash")
"""A metadata export keeps every column (content redacted by the visibility rule) plus the content hash."""


@dataclass(frozen=True, slots=True)
class ExportFilter:
    """Which rows an export holds. Times select on ``occurred_at`` (``start <= t < end``)."""

    start: datetime | None = None
    end: datetime | None = None
    tenant: str | None = None
    subject: str | None = None
    status: str | None = None
    kind: str | None = None
    collection: str | None = None
    """Rows whose ``details.collection`` names it (document changes)."""

    @property
    def contiguous(self) -> bool:
        """No row filter (a time range at most): the export is one unbroken piece of the chain."""
        return all(v is None for v in (self.tenant, self.subject, self.status, self.kind, self.collection))

    def conditions(self) -> list[ColumnElement[bool]]:
        """SQL conditions of the row filters (times are turned into a sequence range instead)."""
        out: list[ColumnElement[bool]] = [T.c.purged_by.is_(None)] if not self.contiguous else []
        for column, value in (
            (T.c.tenant, self.tenant),
            (T.c.subject, self.subject),
            (T.c.status, self.status),
            (T.c.kind, self.kind),
        ):
            if value is not None:
                out.append(column == value)
        if self.collection is not None:
            out.append(T.c.details["collection"].as_string() == self.collection)
        return out

    def to_json(self) -> dict[str, Any]:
        return {k: rfc3339(v) if isinstance(v, datetime) else v for k, v in asdict(self).items()}


@dataclass
class _Ends:
    count: int = 0
    first: dict[str, Any] | None = None
    last: dict[str, Any] | None = None


def manifest_path(path: Path) -> Path:
    """Where the manifest of the export at ``path`` lives."""
    return path.with_name(path.name + ".manifest.json")


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sign_manifest(manifest: dict[str, Any], signer: AuditSigner) -> dict[str, Any]:
    """``manifest`` with ``key_id`` and its ``signature``."""
    unsigned = {k: v for k, v in manifest.items() if k != "signature"} | {"key_id": signer.key_id}
    return {**unsigned, "signature": signer.sign(canonical_row(unsigned))}


def manifest_signed_by(manifest: dict[str, Any], keyring: Keyring) -> bool:
    """True when a trusted key signed exactly this manifest."""
    unsigned = {k: v for k, v in manifest.items() if k != "signature"}
    return keyring.verify(str(manifest.get("key_id")), canonical_row(unsigned), str(manifest.get("signature")))


class Exporter:
    """Writes filtered, streaming exports and their signed manifests."""

    def __init__(self, log: AuditLog, anchors: AnchorStore, signer: AuditSigner, *, batch: int = 2000) -> None:
        self.log, self.anchors, self.signer, self.batch = log, anchors, signer, batch

    def rows(self, flt: ExportFilter, *, metadata_only: bool = False) -> Iterator[dict[str, Any]]:
        """The selected rows, in sequence order, as they go into the file (bounded memory)."""
        since, until, where = 0, None, flt.conditions()
        if flt.start is not None or flt.end is not None:
            span = self.log.sequence_range(flt.start, flt.end)
            if span is None:
                return
            since, until = span[0] - 1, span[1]
            # A contiguous export takes the whole sequence range (a row stamped a millisecond
            # outside the range but committed inside it stays, so the chain stays unbroken); a
            # filtered one keeps only rows inside the times as well.
            if not flt.contiguous and flt.start is not None:
                where.append(T.c.occurred_at >= flt.start)
            if not flt.contiguous and flt.end is not None:
                where.append(T.c.occurred_at < flt.end)
        for row in self.log.iter_rows(since=since, until=until, where=where, batch=self.batch):
            yield metadata_dict(row) if metadata_only else row

    def count(self, flt: ExportFilter) -> int:
        """How many rows the export will hold, roughly (for a progress bar)."""
        where = flt.conditions()
        if flt.start is not None:
            where.append(T.c.occurred_at >= flt.start)
        if flt.end is not None:
            where.append(T.c.occurred_at < flt.end)
        return self.log.count(where)

    def stream(
        self,
        flt: ExportFilter,
        fmt: FileFormat,
        *,
        name: str,
        metadata_only: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> ExportStream:
        """The export as bytes to iterate over (a file or an HTTP body); the manifest comes after."""
        return ExportStream(self, flt, fmt, name, metadata_only, progress)

    def export(
        self,
        flt: ExportFilter,
        fmt: FileFormat,
        path: Path,
        *,
        metadata_only: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, Any]:
        """Write the export to ``path`` and its signed manifest beside it; return the manifest."""
        stream = self.stream(flt, fmt, name=path.name, metadata_only=metadata_only, progress=progress)
        with path.open("wb") as out:
            for chunk in stream:
                out.write(chunk)
        assert stream.manifest is not None  # set once the stream is exhausted
        manifest_path(path).write_bytes(canonical_row(stream.manifest) + b"\n")
        return stream.manifest

    def manifest(
        self, flt: ExportFilter, fmt: FileFormat, name: str, sha256: str, ends: _Ends, metadata: bool
    ) -> dict[str, Any]:
        """The signed manifest of an export that was written."""
        first, last = ends.first or {}, ends.last or {}
        return sign_manifest(self._fields(flt, fmt, name, sha256, first, last, ends.count, metadata), self.signer)

    def _fields(
        self,
        flt: ExportFilter,
        fmt: FileFormat,
        name: str,
        sha256: str,
        first: dict[str, Any],
        last: dict[str, Any],
        count: int,
        metadata: bool,
    ) -> dict[str, Any]:
        return {
            "format": EXPORT_FORMAT,
            "row_format": CANONICAL_VERSION,
            "file_format": fmt,
            "file": name,
            "file_sha256": sha256,
            "created_at": rfc3339(datetime.now(UTC)),
            "filters": flt.to_json(),
            "content": "metadata" if metadata else "full",
            "contiguous": flt.contiguous,
            "row_count": count,
            "first_sequence": first.get("sequence"),
            "last_sequence": last.get("sequence"),
            "first_prev_hash": first.get("prev_hash"),
            "first_row_hash": first.get("row_hash"),
            "last_row_hash": last.get("row_hash"),
            "anchors": [a.to_json() for a in self._covering(first.get("sequence"), last.get("sequence"))],
        }

    def _covering(self, first: int | None, last: int | None) -> list[Anchor]:
        if first is None or last is None:
            return []
        ends = [a for a in (self.anchors.before(first), self.anchors.at_or_after(last)) if a is not None]
        return merge_anchors(ends, self.anchors.load(lo=first, hi=last))


class ExportStream:
    """Iterating yields the export file's bytes in chunks of about :data:`CHUNK_BYTES`; once the
    iteration is over, :attr:`manifest` holds the signed manifest (file hash, count, ends)."""

    def __init__(
        self,
        exporter: Exporter,
        flt: ExportFilter,
        fmt: FileFormat,
        name: str,
        metadata_only: bool,
        progress: Callable[[int], None] | None,
    ) -> None:
        self._exporter, self._flt, self._fmt, self._name = exporter, flt, fmt, name
        self._metadata, self._progress = metadata_only, progress
        self.manifest: dict[str, Any] | None = None

    def __iter__(self) -> Iterator[bytes]:
        ends, digest, sink = _Ends(), hashlib.sha256(), ChunkSink()
        columns = METADATA_COLUMNS if self._metadata else FULL_COLUMNS
        writer = open_writer(self._fmt, sink, columns, self._exporter.batch)  # type: ignore[arg-type]
        for row in self._exporter.rows(self._flt, metadata_only=self._metadata):
            writer.write(row)
            ends.count, ends.first, ends.last = ends.count + 1, ends.first or row, row
            if sink.pending >= CHUNK_BYTES:
                yield _hashed(sink.drain(), digest)
            if self._progress is not None and ends.count % self._exporter.batch == 0:
                self._progress(ends.count)
        writer.close()
        yield _hashed(sink.drain(), digest)
        if self._progress is not None:
            self._progress(ends.count)
        self.manifest = self._exporter.manifest(
            self._flt, self._fmt, self._name, digest.hexdigest(), ends, self._metadata
        )


def _hashed(chunk: bytes, digest: Any) -> bytes:
    digest.update(chunk)
    return chunk
