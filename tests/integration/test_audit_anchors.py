"""Signed anchors on SQLite and PostgreSQL: what the chain alone missed is now detected."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from audit_kit import T0, Kit, kit_fixture, make_kit  # noqa: F401 - kit_fixture provides `kit`
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, insert, select, update

from gateway.audit.anchored import verify_slice
from gateway.audit.anchors import AnchorStore, sign_anchor
from gateway.audit.chain import row_hash
from gateway.audit.keys import AuditKeyError, AuditSigner, load_signer, rotate_key
from gateway.audit.log import AuditEntry
from gateway.audit.models import ANCHOR_TABLE as A
from gateway.audit.models import AUDIT_TABLE as T
from gateway.audit.retention import PurgeResult, purge_tenant
from gateway.settings import Settings

ROWS, EVERY = 30, 10


@pytest.fixture
def anchored(kit: Kit) -> Kit:
    kit.fill(ROWS, anchor_every=EVERY)
    assert kit.verify().ok
    return kit


def _delete_rows(kit: Kit, first: int, last: int | None = None) -> None:
    with kit.engine.begin() as conn:
        query = delete(T).where(T.c.sequence >= first)
        conn.execute(query if last is None else query.where(T.c.sequence <= last))


def _recompute_from(kit: Kit, first: int) -> None:
    """What an attacker with database access does after deleting rows: renumber, relink, rehash."""
    rows = list(kit.log.iter_rows(since=first - 1))
    prev = next(iter(kit.log.iter_rows(since=first - 2, until=first - 1)))["row_hash"] if first > 1 else "0" * 64
    with kit.engine.begin() as conn:
        conn.execute(delete(T).where(T.c.sequence >= first))
        for n, row in enumerate(rows, start=first):
            row.update(sequence=n, prev_hash=prev)
            row["row_hash"] = prev = row_hash(row)
            conn.execute(insert(T), {**row, "occurred_at": _dt(row["occurred_at"])})


def _dt(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text)


def _truncate_newest(kit: Kit) -> None:
    _delete_rows(kit, ROWS - 4)


def _delete_and_recompute(kit: Kit) -> None:
    _delete_rows(kit, 12, 12)
    _recompute_from(kit, 12)


def _recompute_and_delete_db_anchors(kit: Kit) -> None:
    _delete_and_recompute(kit)
    with kit.engine.begin() as conn:
        conn.execute(delete(A).where(A.c.sequence >= 12))


def _forge_anchor_with_foreign_key(kit: Kit) -> None:
    """Rewrite the chain, then re-anchor it with the attacker's own Ed25519 key."""
    _delete_and_recompute(kit)
    foreign = AuditSigner(Ed25519PrivateKey.generate())
    head = kit.log.head()
    assert head is not None
    with kit.engine.begin() as conn:
        conn.execute(delete(A))
    AnchorStore(kit.engine).write(sign_anchor(foreign, head, "periodic"))
    kit.store.sink.unlink()  # type: ignore[union-attr]  # and the attacker could reach the sink too


def _edit_anchor_hash(kit: Kit) -> None:
    _delete_and_recompute(kit)
    with kit.engine.begin() as conn:  # re-point the anchors at 20 and 30 to the rewritten rows 20 and 29
        for sequence, target in ((20, 20), (30, 29)):
            new = next(kit.log.iter_rows(since=target - 1, until=target))["row_hash"]
            conn.execute(update(A).where(A.c.sequence == sequence).values(sequence=target, row_hash=new))
    kit.store.sink.unlink()  # type: ignore[union-attr]


def _empty_a_row_without_checkpoint(kit: Kit) -> None:
    with kit.engine.begin() as conn:
        conn.execute(update(T).where(T.c.sequence == 7).values(question=None, answer=None, purged_by="made-up"))


TAMPERING: list[tuple[Callable[[Kit], None], str]] = [
    (_truncate_newest, "truncated"),
    (_delete_and_recompute, "does not match its signed anchor"),
    (_recompute_and_delete_db_anchors, "anchors were deleted"),
    (_forge_anchor_with_foreign_key, "not signed by a trusted key"),
    (_edit_anchor_hash, "not signed by a trusted key"),
    (_empty_a_row_without_checkpoint, "no signed retention checkpoint"),
]


@pytest.mark.parametrize(("tamper", "problem"), TAMPERING, ids=[t[0].__name__.strip("_") for t in TAMPERING])
def test_tampering_the_chain_alone_missed_is_detected(
    anchored: Kit, tamper: Callable[[Kit], None], problem: str
) -> None:
    tamper(anchored)
    result = anchored.verify()
    assert not result.ok
    assert result.problem is not None and problem in result.problem


def test_truncation_after_the_newest_anchor_is_bounded_and_reported(anchored: Kit) -> None:
    anchored.fill(3, start=ROWS + 1)
    assert anchored.verify().unanchored_rows == 3
    _delete_rows(anchored, ROWS + 1)
    result = anchored.verify()
    assert result.ok and result.unanchored_rows == 0 and result.last_anchor_sequence == ROWS


def test_no_anchor_at_all_fails(kit: Kit) -> None:
    kit.fill(3)
    result = kit.verify()
    assert not result.ok and result.problem is not None and "no signed anchor" in result.problem


def test_a_time_slice_verifies_from_the_nearest_anchor_without_reading_the_table(anchored: Kit) -> None:

    result = verify_slice(
        anchored.log, anchored.store, anchored.keyring(), T0 + timedelta(hours=13), T0 + timedelta(hours=15)
    )
    assert result.ok and result.rows_checked == EVERY  # rows 11..20: from anchor 10 to anchor 20
    _delete_and_recompute(anchored)
    bad = verify_slice(
        anchored.log, anchored.store, anchored.keyring(), T0 + timedelta(hours=13), T0 + timedelta(hours=15)
    )
    assert not bad.ok


def _purge(kit: Kit, tenant: str, before: Any) -> PurgeResult:
    return purge_tenant(kit.engine, kit.log, kit.store, kit.signer, tenant, before)


def test_retention_empties_old_rows_and_the_chain_still_verifies(anchored: Kit) -> None:

    result = purge_tenant(
        anchored.engine, anchored.log, anchored.store, anchored.signer, "acme", T0 + timedelta(hours=15)
    )
    assert result.count == 7 and result.checkpoint is not None  # acme rows are the odd ones, 1..13
    emptied = [r for r in anchored.log.iter_rows() if r["purged_by"]]
    assert [r["sequence"] for r in emptied] == [1, 3, 5, 7, 9, 11, 13]
    assert all(r["question"] is None and r["subject"] == "" and r["tenant"] == "acme" for r in emptied)
    verified = anchored.verify()
    assert verified.ok and verified.purged_rows == 7
    assert verify_slice(anchored.log, anchored.store, anchored.keyring(), T0, T0 + timedelta(hours=3)).ok


def test_emptying_one_more_row_under_an_existing_checkpoint_is_detected(anchored: Kit) -> None:

    result = purge_tenant(
        anchored.engine, anchored.log, anchored.store, anchored.signer, "acme", T0 + timedelta(hours=10)
    )
    assert result.checkpoint is not None
    with anchored.engine.begin() as conn:  # row 4 is globex's; row 15 is acme's but younger than the cut
        conn.execute(
            update(T).where(T.c.sequence == 8).values(tenant="acme", purged_by=result.checkpoint.details["purge_id"])
        )
    bad = anchored.verify()
    assert not bad.ok and bad.problem is not None and "retention checkpoint" in bad.problem


def test_rotation_keeps_old_anchors_verifiable(anchored: Kit) -> None:
    old, new = rotate_key(anchored.settings)
    anchored.anchorer.signer = load_signer(anchored.settings)
    anchored.fill(5, start=ROWS + 1)
    anchored.anchorer.anchor_now("rotation")
    assert {a.key_id for a in anchored.store.load()} == {old, new}
    assert anchored.verify().ok
    jwks = anchored.keyring().jwks()
    assert [(k["kid"], k["status"]) for k in jwks["keys"]] == [(new, "current"), (old, "retired")]
    anchored.settings.audit_trusted_keys_file.unlink()  # forget the retired key: its anchors no longer count
    assert not anchored.verify().ok


def _wait_for_anchor(kit: Kit, sequence: int) -> None:
    """Until the anchorer's own bookkeeping (not just the table) has the anchor at ``sequence``."""
    deadline = time.monotonic() + 10
    while (kit.anchorer.last is None or kit.anchorer.last.sequence < sequence) and time.monotonic() < deadline:
        time.sleep(0.02)


def test_the_anchorer_anchors_every_n_rows_and_on_stop(kit: Kit) -> None:
    kit.anchorer.every_rows = 5
    kit.log.add_listener(kit.anchorer.appended)
    kit.anchorer.start()
    kit.fill(1)  # a chain's first row is anchored at once
    _wait_for_anchor(kit, 1)
    kit.fill(5, start=2)  # five more: the next anchor
    _wait_for_anchor(kit, 6)
    kit.fill(3, start=7)  # under the threshold: only the shutdown anchor covers these
    kit.anchorer.stop()
    anchors = kit.store.load()
    assert [(a.kind, a.sequence) for a in anchors] == [("periodic", 1), ("periodic", 6), ("shutdown", 9)]
    sink = kit.store.sink
    assert sink is not None
    assert [json.loads(line)["signature"] for line in sink.read_text().splitlines()] == [a.signature for a in anchors]


def test_the_signing_key_is_private_and_a_configured_key_must_exist(tmp_path: Path, sqlite_url: str) -> None:
    made = make_kit(sqlite_url, tmp_path / "d")
    key = made.settings.audit_key_file
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    with pytest.raises(AuditKeyError):
        load_signer(Settings(environment="test", data_dir=tmp_path, audit={"key_file": tmp_path / "none.pem"}))  # type: ignore[arg-type]
    made.engine.dispose()


def test_a_listener_failure_never_fails_the_append(kit: Kit) -> None:
    def broken(_entry: AuditEntry) -> None:
        raise RuntimeError("boom")

    kit.log.add_listener(broken)
    kit.fill(1)
    with kit.engine.connect() as conn:
        assert conn.execute(select(T.c.sequence)).scalars().all() == [1]
