"""Verify an export with nothing but the file, its manifest and a public key (no database, no gateway).

What is checked, and what each catches:

* the manifest's Ed25519 signature, by a trusted key: any change to the manifest (a changed row
  count, a swapped file hash, a forged anchor list);
* every anchor in the manifest is signed by a trusted key;
* the file's SHA-256 equals the signed one: any byte changed, dropped, inserted or moved;
* row by row, so the report says *where*: each row re-hashes to its ``row_hash`` (edited), the
  sequences strictly increase (reordered), consecutive sequences link (``prev_hash``), and in a
  contiguous export no sequence is skipped (dropped) and the first row links to the signed
  ``first_prev_hash``; a row at an anchored sequence carries the anchor's hash;
* the row count and both ends (sequences and hashes) equal the manifest's.

Format 1 rows in a metadata-only export cannot be re-hashed (their hash covers the omitted text);
they are counted as ``unverifiable_rows`` and rest on the file hash and the signature alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.audit.anchors import Anchor
from gateway.audit.chain import UnknownHashFormat, row_hash
from gateway.audit.export import file_sha256, manifest_signed_by
from gateway.audit.formats import FILE_FORMATS, FileFormat, read_rows
from gateway.audit.keys import Keyring

MAX_PROBLEMS = 20


@dataclass
class ExportReport:
    """The outcome of verifying one export."""

    rows: int = 0
    problems: list[str] = field(default_factory=list)
    unverifiable_rows: int = 0
    anchors_matched: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, problem: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)


def load_manifest(path: Path) -> dict[str, Any]:
    """The manifest JSON at ``path``."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


class _RowChecker:
    """Checks rows one at a time against each other and the manifest; keeps O(1) state."""

    def __init__(self, manifest: dict[str, Any], anchors: dict[int, str], report: ExportReport) -> None:
        self.m, self.anchors, self.report = manifest, anchors, report
        self.prev: dict[str, Any] | None = None
        self.first: dict[str, Any] | None = None

    def __call__(self, row: dict[str, Any]) -> None:
        seq = int(row["sequence"])
        self.report.rows += 1
        self.first = self.first or row
        self._own_hash(row, seq)
        self._position(row, seq)
        want = self.anchors.get(seq)
        if want is not None:
            if row["row_hash"] == want:
                self.report.anchors_matched += 1
            else:
                self.report.add(f"row {seq} does not match the signed anchor at that sequence")
        self.prev = row

    def _own_hash(self, row: dict[str, Any], seq: int) -> None:
        if row.get("purged_by") is not None:
            return  # emptied by retention: only its links can be checked
        redacted = row.get("content_redacted") or "question" not in row
        if redacted and (row.get("hash_format") or 1) == 1:
            self.report.unverifiable_rows += 1
            return
        try:
            ok = row_hash(row) == row["row_hash"]
        except (UnknownHashFormat, KeyError):
            ok = False
        if not ok:
            self.report.add(f"row {seq} was edited: it does not hash to its row_hash")

    def _position(self, row: dict[str, Any], seq: int) -> None:
        if self.prev is None:
            if self.m["contiguous"] and row["prev_hash"] != self.m["first_prev_hash"]:
                self.report.add(f"row {seq} does not link to the signed start of the export")
            return
        before = int(self.prev["sequence"])
        if seq <= before:
            self.report.add(f"row {seq} comes after row {before}: rows were reordered")
        elif seq != before + 1 and self.m["contiguous"]:
            self.report.add(f"rows {before + 1}..{seq - 1} are missing from a contiguous export: rows were dropped")
        elif seq == before + 1 and row["prev_hash"] != self.prev["row_hash"]:
            self.report.add(f"row {seq} does not link to row {before}")

    def finish(self) -> None:
        m, first, last = self.m, self.first or {}, self.prev or {}
        if self.report.rows != m["row_count"]:
            self.report.add(f"the file has {self.report.rows} rows, the signed manifest says {m['row_count']}")
        ends = (
            ("first_sequence", first.get("sequence")),
            ("last_sequence", last.get("sequence")),
            ("first_row_hash", first.get("row_hash")),
            ("last_row_hash", last.get("row_hash")),
        )
        for name, value in ends:
            if value != m.get(name):
                self.report.add(f"{name} is {value}, the signed manifest says {m.get(name)}")


def verify_export(
    path: Path,
    manifest: dict[str, Any],
    keyring: Keyring,
    *,
    progress: Callable[[int], None] | None = None,
) -> ExportReport:
    """Verify the export at ``path`` against its ``manifest`` with the public keys in ``keyring``."""
    report = ExportReport()
    if not manifest_signed_by(manifest, keyring):
        report.add("the manifest's signature does not verify with the given key: the manifest was changed or forged")
        return report
    anchors: dict[int, str] = {}
    for data in manifest.get("anchors", []):
        anchor = Anchor.from_json(data)
        if not anchor.verified_by(keyring):
            report.add(f"the anchor at sequence {anchor.sequence} in the manifest is not signed by a trusted key")
        anchors[anchor.sequence] = anchor.row_hash
    if file_sha256(path) != manifest["file_sha256"]:
        report.add("the file's SHA-256 differs from the signed one: the file was changed")
    fmt: FileFormat = manifest["file_format"]
    if fmt not in FILE_FORMATS:
        report.add(f"unknown file format {fmt!r}")
        return report
    checker = _RowChecker(manifest, anchors, report)
    try:
        for row in read_rows(fmt, path):
            checker(row)
            if progress is not None and report.rows % 10_000 == 0:
                progress(report.rows)
    except (ValueError, KeyError, TypeError) as exc:
        report.add(f"the file could not be read as {fmt} after row {report.rows}: {type(exc).__name__}")
    checker.finish()
    return report
