"""Chain verification against signed anchors: the whole table, or one time slice.

What the anchors add to :mod:`gateway.audit.verify`:

* a row at an anchored sequence must carry the signed ``row_hash``: rows deleted in the middle
  with every later hash recomputed, or a chain rebuilt from scratch, no longer match;
* the table must reach the newest anchor: deleting rows before it is truncation, detected;
* rows after the newest anchor are reported (``unanchored_rows``): truncating those is the one
  thing not detectable, and the anchorer keeps it below N rows or M seconds;
* an anchor whose signature no trusted key made (a foreign key, an edited anchor) fails;
* anchors present in the sink but gone from the database fail (deleted anchors);
* a row emptied by retention must be vouched for by a signed retention checkpoint: same tenant,
  inside its sequence range, and (on a full walk) the checkpoint's count and digest of
  ``"{sequence}:{row_hash}\\n"`` lines match the emptied rows exactly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from gateway.audit.anchors import Anchor, AnchorStore, merge_anchors
from gateway.audit.chain import GENESIS_HASH
from gateway.audit.keys import Keyring
from gateway.audit.log import AuditLog
from gateway.audit.verify import VerifyResult, verify_rows

Progress = Callable[[int], None] | None


def purge_line(sequence: int, row_hash: str) -> bytes:
    """One line of a retention checkpoint's digest."""
    return f"{sequence}:{row_hash}\n".encode()


class AnchorCheck:
    """Row observer for :func:`verify_rows`: anchored hashes and retention checkpoints."""

    def __init__(self, anchors: Iterable[Anchor]) -> None:
        self.expected: dict[int, str] = {}
        self.checkpoints: dict[str, Anchor] = {}
        for anchor in anchors:
            self.expected.setdefault(anchor.sequence, anchor.row_hash)
            if anchor.kind == "retention":
                self.checkpoints[str(anchor.details["purge_id"])] = anchor
        self.tallies: dict[str, tuple[int, Any]] = {}

    def __call__(self, row: Mapping[str, Any]) -> str | None:
        sequence = int(row["sequence"])
        want = self.expected.get(sequence)
        if want is not None and row["row_hash"] != want:
            return (
                f"row {sequence} does not match its signed anchor: the chain was rewritten "
                "(rows deleted or edited and the later hashes recomputed)"
            )
        purge_id = row.get("purged_by")
        return None if purge_id is None else self._purged(sequence, row, str(purge_id))

    def _purged(self, sequence: int, row: Mapping[str, Any], purge_id: str) -> str | None:
        checkpoint = self.checkpoints.get(purge_id)
        if checkpoint is None:
            return f"row {sequence} was emptied and no signed retention checkpoint vouches for it"
        d = checkpoint.details
        if row["tenant"] != d["tenant"] or not int(d["first_sequence"]) <= sequence <= int(d["last_sequence"]):
            return f"row {sequence} was emptied outside what retention checkpoint {purge_id} covers"
        count, digest = self.tallies.get(purge_id, (0, hashlib.sha256()))
        digest.update(purge_line(sequence, str(row["row_hash"])))
        self.tallies[purge_id] = (count + 1, digest)
        return None

    def finish(self) -> tuple[int, str] | None:
        """After a full walk: every checkpoint emptied exactly the rows it signed for."""
        for purge_id, checkpoint in self.checkpoints.items():
            count, digest = self.tallies.get(purge_id, (0, hashlib.sha256()))
            if count != int(checkpoint.details["count"]) or digest.hexdigest() != checkpoint.details["digest"]:
                return int(checkpoint.details["first_sequence"]), (
                    f"retention checkpoint {purge_id} signed {checkpoint.details['count']} emptied rows, "
                    f"the table has {count} that differ: rows were emptied or restored outside retention"
                )
        return None


def check_anchors(anchors: Sequence[Anchor], keyring: Keyring) -> VerifyResult | None:
    """A failed result for the first anchor no trusted key signed, or for conflicting anchors."""
    seen: dict[int, str] = {}
    for anchor in anchors:
        if not anchor.verified_by(keyring):
            return VerifyResult(
                False,
                0,
                first_bad_sequence=anchor.sequence,
                problem=(
                    f"the anchor at sequence {anchor.sequence} is not signed by a trusted key "
                    f"(key id {anchor.key_id}): it was forged or edited"
                ),
            )
        if seen.setdefault(anchor.sequence, anchor.row_hash) != anchor.row_hash:
            return VerifyResult(
                False,
                0,
                first_bad_sequence=anchor.sequence,
                problem=f"signed anchors disagree at {anchor.sequence}",
            )
    return None


def verify_chain(
    log: AuditLog, store: AnchorStore, keyring: Keyring, *, progress: Progress = None, batch: int = 1000
) -> VerifyResult:
    """Walk the whole table against every anchor (database and sink)."""
    in_db = store.load()
    in_sink = store.load_sink()
    anchors = merge_anchors(in_db, in_sink)
    failed = check_anchors(anchors, keyring)
    if failed is not None:
        return failed
    db_signatures = {a.signature for a in in_db}
    deleted = [a for a in in_sink if a.signature not in db_signatures]
    if deleted:
        first = deleted[0].sequence
        problem = f"{len(deleted)} anchors in the sink are missing from the database (first at sequence {first})"
        return VerifyResult(False, 0, first_bad_sequence=first, problem=problem + ": anchors were deleted")
    check = AnchorCheck(anchors)
    result = verify_rows(log.iter_rows(batch=batch), progress=progress, progress_every=batch, observer=check)
    if result.ok:
        found = check.finish()
        if found is not None:
            result = replace(result, ok=False, first_bad_sequence=found[0], problem=found[1])
    return _against_newest(result, anchors)


def _against_newest(result: VerifyResult, anchors: Sequence[Anchor]) -> VerifyResult:
    """Truncation before the newest anchor fails; rows after it are counted."""
    result = replace(result, anchors_checked=len(anchors))
    if not result.ok:
        return result
    if not anchors:
        if result.rows_checked == 0:
            return result
        problem = "no signed anchor covers the chain: run the gateway or `gateway audit anchor`"
        return replace(result, ok=False, first_bad_sequence=1, problem=problem)
    newest = max(anchors, key=lambda a: a.sequence)
    if result.last_sequence < newest.sequence:
        problem = (
            f"rows {result.last_sequence + 1}..{newest.sequence} are missing: the chain was truncated "
            f"(an anchor signed at {newest.anchored_at} covers sequence {newest.sequence})"
        )
        return replace(
            result,
            ok=False,
            first_bad_sequence=result.last_sequence + 1,
            problem=problem,
            last_anchor_sequence=newest.sequence,
        )
    return replace(result, last_anchor_sequence=newest.sequence, unanchored_rows=result.last_sequence - newest.sequence)


def verify_slice(
    log: AuditLog,
    store: AnchorStore,
    keyring: Keyring,
    start: datetime | None,
    end: datetime | None,
    *,
    progress: Progress = None,
    batch: int = 1000,
) -> VerifyResult:
    """Verify the rows with ``start <= occurred_at < end`` from the nearest anchor before them to
    the nearest anchor after them, reading only those rows (not the whole table)."""
    span = log.sequence_range(start, end)
    if span is None:
        return VerifyResult(True, 0)
    before, after = store.before(span[0]), store.at_or_after(span[1])
    first = before.sequence + 1 if before else 1
    inside = store.load(lo=first, hi=after.sequence if after else None)
    # Retention checkpoints are signed at the head of their day, usually far after the rows they
    # emptied: load them all (there are few) so emptied rows in the slice can be vouched for.
    anchors = merge_anchors([a for a in (before, *inside) if a is not None], store.load(kind="retention"))
    failed = check_anchors(anchors, keyring)
    if failed is not None:
        return failed
    rows = log.iter_rows(since=first - 1, until=after.sequence if after else None, batch=batch)
    prev = before.row_hash if before else GENESIS_HASH
    check = AnchorCheck(anchors)
    result = verify_rows(rows, progress=progress, progress_every=batch, start=first, prev_hash=prev, observer=check)
    stop = after.sequence if after else None
    return _against_newest(result, [a for a in anchors if stop is None or a.sequence <= stop])
