"""verify_rows on rows held in memory (the database cases are in tests/integration/test_audit_log.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gateway.audit.chain import GENESIS_HASH, row_hash, stored_row
from gateway.audit.record import AuditRecord
from gateway.audit.verify import VerifyResult, verify_rows


def chain(n: int) -> list[dict[str, Any]]:
    rows, prev = [], GENESIS_HASH
    for i in range(1, n + 1):
        record = AuditRecord(
            request_id=f"r{i}",
            kind="admin",
            status="ok",
            tenant="acme",
            subject="root",
            groups=(),
            policy_version=i,
            occurred_at=datetime(2026, 11, 25, tzinfo=UTC),
            action="policy.add",
        )
        row = stored_row(record, sequence=i, prev_hash=prev)
        rows.append(row)
        prev = row["row_hash"]
    return rows


def test_an_empty_chain_verifies() -> None:
    assert verify_rows([]) == VerifyResult(ok=True, rows_checked=0)


def test_an_intact_chain_verifies_and_reports_progress() -> None:
    seen: list[int] = []
    assert verify_rows(chain(5), progress=seen.append, progress_every=2) == VerifyResult(True, 5, last_sequence=5)
    assert seen == [2, 4, 5]


def test_a_chain_not_starting_at_genesis_fails_at_row_one() -> None:
    rows = chain(2)
    rows[0]["prev_hash"] = "f" * 64
    rows[0]["row_hash"] = row_hash(rows[0])
    result = verify_rows(rows)
    assert result.first_bad_sequence == 1 and result.problem is not None and "genesis" in result.problem


@given(st.integers(min_value=2, max_value=12).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n))))
def test_editing_any_row_is_found_at_that_row(case: tuple[int, int]) -> None:
    n, victim = case
    rows = chain(n)
    rows[victim - 1]["policy_version"] += 1
    result = verify_rows(rows)
    assert (result.ok, result.first_bad_sequence, result.rows_checked) == (False, victim, victim)


@given(st.integers(min_value=3, max_value=12).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n - 1))))
def test_deleting_any_row_but_the_last_is_found_at_the_missing_sequence(case: tuple[int, int]) -> None:
    n, victim = case
    rows = chain(n)
    del rows[victim - 1]
    assert verify_rows(rows).first_bad_sequence == victim


@given(st.integers(min_value=2, max_value=12).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n - 1))))
def test_rehashing_an_edited_row_breaks_the_next_link(case: tuple[int, int]) -> None:
    n, victim = case
    rows = chain(n)
    rows[victim - 1]["action"] = "policy.remove"
    rows[victim - 1]["row_hash"] = row_hash(rows[victim - 1])
    assert verify_rows(rows).first_bad_sequence == victim + 1
