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
  detectable from the chain alone: that needs an anchor (the last hash, signed and kept
  elsewhere), which a later compliance change adds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.audit.chain import GENESIS_HASH, row_hash


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


def _problem(row: Mapping[str, Any], expected: int, prev_hash: str) -> tuple[int, str] | None:
    sequence = int(row["sequence"])
    if sequence > expected:
        return expected, f"sequence {expected} is missing (next row is {sequence}): a row was deleted"
    if sequence < expected:
        return sequence, f"sequence {sequence} is out of order (expected {expected}): rows were renumbered"
    if row_hash(row) != row["row_hash"]:
        return sequence, f"row {sequence} was edited: its content does not match its row_hash"
    if row["prev_hash"] != prev_hash:
        if sequence == 1:
            return sequence, "row 1 does not start from the genesis hash: the chain start was replaced"
        return sequence, (
            f"row {sequence} does not link to row {sequence - 1}: a row before it was inserted, replaced or re-hashed"
        )
    return None


def verify_rows(
    rows: Iterable[Mapping[str, Any]],
    *,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 1000,
) -> VerifyResult:
    """Walk ``rows`` (in sequence order, starting at 1) and stop at the first break.

    Args:
        rows: rows with every column of ``audit_log``; datetimes or RFC 3339 strings alike.
        progress: called with the number of rows checked so far, every ``progress_every`` rows
            and once at the end.
        progress_every: how often to report.
    """
    checked = 0
    prev_hash = GENESIS_HASH
    for row in rows:
        checked += 1
        found = _problem(row, checked, prev_hash)
        if found is not None:
            if progress is not None:
                progress(checked)
            return VerifyResult(False, checked, first_bad_sequence=found[0], problem=found[1])
        prev_hash = row["row_hash"]
        if progress is not None and checked % progress_every == 0:
            progress(checked)
    if progress is not None:
        progress(checked)
    return VerifyResult(True, checked)
