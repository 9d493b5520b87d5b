"""The hash chain: how an audit row becomes bytes, and how those bytes are hashed.

Two hash formats exist; each row says which one in its ``hash_format`` column, and the format is
itself inside what format 2 hashes, so a row cannot be switched from one to the other:

* **format 1** (rows written before 2026-11-30): ``row_hash = SHA-256(canonical_row(`` the
  :data:`HASHED_FIELDS` ``))``;
* **format 2** (every new row): the content (:data:`CONTENT_FIELDS`: question, answer, citations)
  is hashed on its own, ``content_hash = SHA-256(canonical_row(content))``, and
  ``row_hash = SHA-256(canonical_row(`` the :data:`METADATA_FIELDS` ``+ hash_format + content_hash))``.
  A metadata-only export carries ``content_hash`` instead of the text, and each of its rows still
  verifies against the chain without revealing a word of the questions or answers.

Old rows were not re-hashed: rewriting history to a new format would destroy exactly the evidence
the chain protects, so the migration added the column with 1 for every existing row.

The hashed columns include ``sequence``, ``request_id`` and ``prev_hash``, so a row can be neither
moved, re-numbered nor re-linked without changing its hash. The first row's ``prev_hash`` is
:data:`GENESIS_HASH` (64 zeros). ``row_hash`` and ``purged_by`` (retention, see
:mod:`gateway.audit.retention`) are outside the hash.

Canonical JSON (:func:`canonical_row`; compliance exports reuse it, so it is a contract):

* a JSON object with keys sorted by Unicode code point, separators ``,`` and ``:`` (no
  whitespace), non-ASCII characters written as themselves, encoded as UTF-8;
* datetimes as RFC 3339 in UTC with exactly six fractional digits and a ``Z``
  (``2026-11-25T11:02:30.000000Z``); a naive datetime is taken to be UTC already;
* tuples as arrays; mapping keys as strings;
* floats as Python's ``repr`` (the shortest decimal that reads back as the same double), which
  is what ``json.dumps`` writes. Non-finite floats, which JSON cannot carry, become the strings
  ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``;
* any other value (``Decimal``, ``UUID``, enums...) as ``str(value)``.

This is deliberately *not* RFC 8785 (JCS sorts keys by UTF-16 code units and formats numbers
the ECMAScript way); a verifier in another language must follow the rules above.

Values are normalised by :func:`stored_row` *before* they are stored, so that what the database
gives back hashes exactly like what was written: retrieval scores are rounded to
:data:`SCORE_DECIMALS` and latencies to :data:`LATENCY_DECIMALS` decimals, timestamps are
converted to UTC, and text loses what PostgreSQL cannot store (NUL becomes U+FFFD; an unpaired
surrogate, which UTF-8 cannot encode, becomes ``?``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gateway.audit.record import AuditRecord

GENESIS_HASH = "0" * 64
"""``prev_hash`` of the first row."""

SCORE_DECIMALS = 6
LATENCY_DECIMALS = 3
"""Latencies are in milliseconds, so three decimals keep microseconds."""

HASHED_FIELDS: tuple[str, ...] = (
    "sequence",
    "request_id",
    "occurred_at",
    "tenant",
    "subject",
    "groups",
    "policy_version",
    "kind",
    "action",
    "status",
    "question",
    "answer",
    "citations",
    "retrieved",
    "generator",
    "guards",
    "latencies_ms",
    "details",
    "prev_hash",
)
"""What a format 1 hash covers: every column of ``audit_log`` before format 2 existed, except ``row_hash``."""

CONTENT_FIELDS: tuple[str, ...] = ("question", "answer", "citations")
"""What a reader needs the audit *content* right to see; format 2 hashes it apart (``content_hash``)."""

METADATA_FIELDS: tuple[str, ...] = tuple(f for f in HASHED_FIELDS if f not in CONTENT_FIELDS)
"""Who, when, what kind, which documents, how long: what an admin may see."""

HASH_FORMAT = 2
"""The format every new row is written in."""

CANONICAL_VERSION = "gateway-audit-row/2"
"""Names these serialisation rules in anchors and export manifests (a contract: bump on any change)."""

ROW_FIELDS: tuple[str, ...] = (*HASHED_FIELDS, "hash_format", "row_hash", "purged_by")
"""Every column of ``audit_log``, in the order exports write them."""


class UnknownHashFormat(ValueError):
    """A row names a hash format this code does not know (a tampered row, or a newer writer)."""


def rfc3339(value: datetime) -> str:
    """``value`` in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (naive means UTC already)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    # isoformat, unlike strftime("%Y"), always writes four year digits.
    return value.isoformat(timespec="microseconds") + "Z"


def clean_text(value: str) -> str:
    """``value`` without the characters PostgreSQL text or UTF-8 cannot hold (see module doc)."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def _float(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def json_value(value: Any) -> Any:
    """``value`` as plain JSON data, following the canonical rules. Idempotent.

    Exact-type fast paths come first: exports call this for every value of every row, and the
    ``isinstance`` chain below cost ~70% of export time (bench/audit_export.py profile).
    """
    kind = type(value)
    if kind is str:
        # An ASCII string without NUL is already clean; only others pay for clean_text's encode.
        return value if value.isascii() and "\x00" not in value else clean_text(value)
    if kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else _float(value)
    if kind is dict:
        return {(k if type(k) is str and k.isascii() and "\x00" not in k else clean_text(str(k))): json_value(v)
                for k, v in value.items()}  # fmt: skip
    if kind is list:
        return [json_value(v) for v in value]
    return _json_value_slow(value)


def _json_value_slow(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, Mapping):
        return {clean_text(str(k)): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if value is None or isinstance(value, bool | int):
        return value
    return rfc3339(value) if isinstance(value, datetime) else clean_text(str(value))


def canonical_row(row: Mapping[str, Any]) -> bytes:
    """The canonical JSON bytes of ``row`` (every key it has; see the module doc for the rules).

    Stable under key order and under the difference between a ``datetime`` and its RFC 3339
    string, so rows read back from SQLite, PostgreSQL or an export serialise identically.
    """
    return canonical_bytes(json_value(row))


def canonical_bytes(data: Any) -> bytes:
    """Canonical JSON of ``data`` that is already plain JSON data (the output of :func:`json_value`).

    Exporters write rows that :func:`canonical_dict` has normalised; normalising them a second time
    cost a third of the export time.
    """
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def content_hash(row: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of the row's :data:`CONTENT_FIELDS`."""
    return hashlib.sha256(canonical_row({name: row[name] for name in CONTENT_FIELDS})).hexdigest()


def row_hash(row: Mapping[str, Any]) -> str:
    """The row's hash in its own ``hash_format`` (absent means 1; see the module doc).

    A format 2 row whose content is redacted or absent (a metadata-only export) must carry
    ``content_hash``; its visible content fields are then not hashed.

    Raises:
        UnknownHashFormat: ``hash_format`` is neither 1 nor 2.
    """
    fmt = row.get("hash_format") or 1
    if fmt == 1:
        return hashlib.sha256(canonical_row({name: row[name] for name in HASHED_FIELDS})).hexdigest()
    if fmt != HASH_FORMAT:
        raise UnknownHashFormat(f"unknown hash format {fmt!r}")
    redacted = row.get("content_redacted") or "question" not in row
    digest = str(row["content_hash"]) if redacted else content_hash(row)
    hashed = {**{name: row[name] for name in METADATA_FIELDS}, "hash_format": fmt, "content_hash": digest}
    return hashlib.sha256(canonical_row(hashed)).hexdigest()


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _opt_text(value: str | None) -> str | None:
    return None if value is None else clean_text(value)


def stored_row(record: AuditRecord, *, sequence: int, prev_hash: str) -> dict[str, Any]:
    """The column values to insert for ``record`` (normalised, ``row_hash`` included)."""
    row: dict[str, Any] = {
        "sequence": sequence,
        "request_id": clean_text(record.request_id),
        "occurred_at": _utc(record.occurred_at),
        "tenant": clean_text(record.tenant),
        "subject": clean_text(record.subject),
        "groups": [clean_text(g) for g in record.groups],
        "policy_version": int(record.policy_version),
        "kind": clean_text(record.kind),
        "action": clean_text(record.action),
        "status": clean_text(record.status),
        "question": _opt_text(record.question),
        "answer": _opt_text(record.answer),
        "citations": json_value(list(record.citations)),
        "retrieved": [
            {
                "chunk_id": clean_text(ref.chunk_id),
                "document_id": clean_text(ref.document_id),
                "version": int(ref.version),
                "score": json_value(round(float(ref.score), SCORE_DECIMALS)),
            }
            for ref in record.retrieved
        ],
        "generator": _opt_text(record.generator),
        "guards": json_value(record.guards),
        "latencies_ms": {
            clean_text(str(k)): json_value(round(float(v), LATENCY_DECIMALS)) for k, v in record.latencies_ms.items()
        },
        "details": json_value(record.details),
        "prev_hash": prev_hash,
        "hash_format": HASH_FORMAT,
        "purged_by": None,
    }
    row["row_hash"] = row_hash(row)
    return row


def canonical_dict(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A stored row as plain JSON data (timestamps as RFC 3339 strings), all of :data:`ROW_FIELDS`."""
    return {name: json_value(row[name]) for name in ROW_FIELDS}


def metadata_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    """A canonical row as a reader without audit-content rights sees it, still re-hashable.

    What is shown follows the one visibility rule (:func:`gateway.audit.visibility.visible_row`:
    question and answer redacted, citation titles dropped, ``content_redacted`` true); the row adds
    ``content_hash``, the hash of the content as stored, so :func:`row_hash` reproduces the row's
    hash from the metadata view. A format 1 row's hash covers the text itself: its
    ``content_hash`` is null and it verifies through the export's signature only.
    """
    from gateway.audit.visibility import visible_row  # noqa: PLC0415 - visibility imports nothing of ours

    out = visible_row(row, content=False)
    out["content_hash"] = content_hash(row) if row.get("hash_format") == HASH_FORMAT else None
    return out
