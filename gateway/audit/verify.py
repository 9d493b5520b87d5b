"""Chain verification over a stream of rows, independent of where the rows come from.

:class:`gateway.audit.log.AuditLog` feeds it rows from the database; a compliance export can feed
it rows read back from a file. Memory stays bounded: only the previous row's hash is kept.

What the chain alone can and cannot show:

* an edited row (any column) no longer matches its ``row_hash``;
* a deleted row leaves a gap in the sequence; a deleted-and-renumbered tail breaks the hashes;
* a forged row slipped in (with the tail renumbered) breaks the link of the row after it, even
  when the forger recomputed the forged row's own hash; so does editing one row and
  recomputing its hash;
* swapped contents break the hash of the first swapped row (the sequence is hashed);
* deleting the **last** rows, or rewriting the whole tail with recomputed hashes, is *not*
  detectable from the chain alone: :mod:`gateway.audit.anchored` checks the rows against signed
  anchors (an ``observer`` here) for that.

A row emptied by retention (``purged_by`` set) cannot be re-hashed; its links still must hold, and
the observer checks that a signed retention checkpoint vouches for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.audit.chain import GENESIS_HASH, UnknownHashFormat, row_hash


class RowObserver(Protocol):
    """Sees every row that passed the chain checks; returns a problem to stop the walk."""

    def __call__(self, row: Mapping[str, Any]) -> str | None: ...


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of walking the chain."""

    ok: bool
    rows_checked: int
    """Rows read, including the first bad one."""
    first_bad_sequence: int | None = None
    """Where the chain first breaks (for a deleted row: the missing sequence number)."""
    problem: str | None = None
    """What looks wrong there, in words."""
    last_sequence: int = 0
    """The last row read (0 when none)."""
    anchors_checked: int = 0
    """Signed anchors the rows were checked against (anchored verification only)."""
    last_anchor_sequence: int | None = None
    unanchored_rows: int = 0
    """Rows after the newest anchor: truncating them would go unnoticed, so this is the bound."""
    purged_rows: int = 0
    """Rows emptied by retention (links checked, content gone, vouched for by a signed checkpoint)."""


def _problem(row: Mapping[str, Any], expected: int, prev_hash: str) -> tuple[int, str] | None:
    sequence = int(row["sequence"])
    if sequence > expected:
        return expected, f"sequence {expected} is missing (next row is {sequence}): a row was deleted"
    if sequence < expected:
        return sequence, f"sequence {sequence} is out of order (expected {expected}): rows were renumbered"
    if row.get("purged_by") is None and _hash_of(row) != row["row_hash"]:
        return sequence, f"row {sequence} was edited: its content does not match its row_hash"
    if row["prev_hash"] != prev_hash:
        if sequence == 1:
            return sequence, "row 1 does not start from the genesis hash: the chain start was replaced"
        return sequence, (
            f"row {sequence} does not link to row {sequence - 1}: a row before it was inserted, replaced or re-hashed"
        )
    return None


def _hash_of(row: Mapping[str, Any]) -> str | None:
    try:
        return row_hash(row)
    except UnknownHashFormat:
        return None


def verify_rows(
    rows: Iterable[Mapping[str, Any]],
    *,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 1000,
    start: int = 1,
    prev_hash: str = GENESIS_HASH,
    observer: RowObserver | None = None,
) -> VerifyResult:
    """Walk ``rows`` (in sequence order, from ``start``) and stop at the first break.

    Args:
        rows: rows with every column of ``audit_log``; datetimes or RFC 3339 strings alike.
        progress: called with the number of rows checked so far, every ``progress_every`` rows
            and once at the end.
        progress_every: how often to report.
        start: the first sequence expected (a slice starts after a trusted anchor).
        prev_hash: the hash the first row must link to (genesis, or the trusted anchor's).
        observer: sees each row that passed the chain checks (anchors, retention checkpoints).
    """
    checked, purged, expected = 0, 0, start
    for row in rows:
        checked += 1
        found = _problem(row, expected, prev_hash)
        if found is None and observer is not None:
            problem = observer(row)
            found = None if problem is None else (int(row["sequence"]), problem)
        if found is not None:
            if progress is not None:
                progress(checked)
            return VerifyResult(False, checked, first_bad_sequence=found[0], problem=found[1], last_sequence=expected)
        purged += row.get("purged_by") is not None
        prev_hash, expected = row["row_hash"], expected + 1
        if progress is not None and checked % progress_every == 0:
            progress(checked)
    if progress is not None:
        progress(checked)
    return VerifyResult(True, checked, last_sequence=expected - 1, purged_rows=purged)
