"""The SQL audit log on SQLite and PostgreSQL: appends, reads, and every tamper case the chain catches."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway import migrate
from gateway.audit.chain import HASHED_FIELDS, row_hash
from gateway.audit.log import AuditLog
from gateway.audit.models import AUDIT_TABLE as T
from gateway.audit.record import AuditRecord, RetrievedRef
from gateway.db import make_engine

T0 = datetime(2026, 11, 25, 9, 30, 0, 123456, tzinfo=UTC)
ROWS = 8


def make_record(i: int, **overrides: Any) -> AuditRecord:
    values: dict[str, Any] = {
        "request_id": f"req-{i}",
        "kind": "ask",
        "status": "answered",
        "tenant": "acme" if i % 2 else "globex",
        "subject": f"user-{i % 3}",
        "groups": ("staff", f"team-{i % 2}"),
        "policy_version": 3,
        "occurred_at": T0 + timedelta(seconds=i),
        "question": f"What is policy {i}? é ✓",
        "answer": f"Policy {i} says so [1].",
        "citations": ({"n": 1, "document_id": "doc-a", "version": 2},),
        "retrieved": (
            RetrievedRef("doc-a#0", "doc-a", 2, 0.8123456789),
            RetrievedRef("doc-b#3", "doc-b", 1, 1 / 3),
        ),
        "generator": "extractive",
        "guards": {"pii": {"redacted": 1}, "poisoning": []},
        "latencies_ms": {"retrieve": 1.23456789, "generate": 10.0},
        "details": {"k": 5, "ratio": 0.1},
    }
    values.update(overrides)
    return AuditRecord(**values)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def audit_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    migrate.upgrade(url)
    return url


@pytest.fixture
def engine(audit_url: str) -> Iterator[Engine]:
    eng = make_engine(audit_url)
    yield eng
    eng.dispose()


@pytest.fixture
def log(engine: Engine) -> AuditLog:
    audit = AuditLog(engine)
    for i in range(1, ROWS + 1):
        audit.append(make_record(i))
    return audit


def _row(engine: Engine, sequence: int) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(conn.execute(select(T).where(T.c.sequence == sequence)).mappings().one())


def _update(engine: Engine, sequence: int, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(update(T).where(T.c.sequence == sequence).values(**values))


def test_appends_get_gapless_sequences_and_verify_ok(engine: Engine) -> None:
    audit = AuditLog(engine)
    entries = [audit.append(make_record(i)) for i in range(1, 6)]
    assert [e.sequence for e in entries] == [1, 2, 3, 4, 5]
    result = audit.verify()
    assert result.ok and result.rows_checked == 5 and result.first_bad_sequence is None


def test_first_row_links_to_genesis_and_each_row_to_the_previous(log: AuditLog, engine: Engine) -> None:
    rows = list(log.iter_rows())
    assert rows[0]["prev_hash"] == "0" * 64
    assert all(b["prev_hash"] == a["row_hash"] for a, b in pairwise(rows))


def test_stored_rows_hash_as_written(log: AuditLog, engine: Engine) -> None:
    entry = log.append(make_record(99))
    stored = _row(engine, entry.sequence)
    assert stored["row_hash"] == entry.row_hash == row_hash(stored)


def test_scores_and_latencies_are_rounded_before_storing(log: AuditLog) -> None:
    row = next(log.iter_rows())
    assert [r["score"] for r in row["retrieved"]] == [0.812346, 0.333333]
    assert row["latencies_ms"] == {"retrieve": 1.235, "generate": 10.0}
    assert row["occurred_at"] == "2026-11-25T09:30:01.123456Z"


def test_iter_rows_streams_in_order_from_since(log: AuditLog) -> None:
    assert [r["sequence"] for r in log.iter_rows(since=3, batch=2)] == [4, 5, 6, 7, 8]
    assert set(next(log.iter_rows())) == {*HASHED_FIELDS, "hash_format", "row_hash", "purged_by"}


def test_verify_reports_progress_per_batch(log: AuditLog) -> None:
    seen: list[int] = []
    assert log.verify(progress=seen.append, batch=3).ok
    assert seen == [3, 6, 8]


def test_search_filters_and_pages_newest_first(log: AuditLog) -> None:
    page = log.search(tenant="acme", subject=None, kind="ask", limit=2, before_sequence=None)
    assert [r["sequence"] for r in page] == [7, 5]
    page2 = log.search(tenant="acme", subject=None, kind="ask", limit=2, before_sequence=5)
    assert [r["sequence"] for r in page2] == [3, 1]
    assert log.search(tenant=None, subject="user-0", kind=None, limit=10, before_sequence=None)[0]["sequence"] == 6
    assert log.search(tenant=None, subject=None, kind="admin", limit=10, before_sequence=None) == []


# --- tampering: (what the attacker does, the first bad sequence verify must name, words in the problem)


def _edit_question(engine: Engine) -> None:
    _update(engine, 4, question="What is policy 4? (edited)")


def _edit_answer(engine: Engine) -> None:
    _update(engine, 4, answer="Something else entirely.")


def _edit_status(engine: Engine) -> None:
    _update(engine, 4, status="refused")


def _edit_score_in_json(engine: Engine) -> None:
    retrieved = _row(engine, 4)["retrieved"]
    retrieved[0]["score"] = 0.99
    _update(engine, 4, retrieved=retrieved)


def _edit_timestamp(engine: Engine) -> None:
    _update(engine, 4, occurred_at=T0 + timedelta(days=1))


def _delete_middle_row(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(delete(T).where(T.c.sequence == 4))


def _delete_first_row(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(delete(T).where(T.c.sequence == 1))


def _delete_middle_row_and_renumber(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(delete(T).where(T.c.sequence == 4))
        for seq in range(5, ROWS + 1):
            conn.execute(update(T).where(T.c.sequence == seq).values(sequence=seq - 1))


def _insert_forged_row(engine: Engine) -> None:
    """Shift rows 4.. up by one, slip a forged row 4 in with a correct link and recomputed hash."""
    with engine.begin() as conn:
        for seq in range(ROWS, 3, -1):
            old = dict(conn.execute(select(T).where(T.c.sequence == seq)).mappings().one())
            old["sequence"] = seq + 1
            old["row_hash"] = row_hash(old)  # even recomputing the moved rows' own hashes
            conn.execute(delete(T).where(T.c.sequence == seq))
            conn.execute(insert(T), old)
        forged = dict(conn.execute(select(T).where(T.c.sequence == 3)).mappings().one())
        forged.update(sequence=4, request_id="forged", answer="nothing to see", prev_hash=forged["row_hash"])
        forged["row_hash"] = row_hash(forged)
        conn.execute(insert(T), forged)


def _swap_contents(engine: Engine) -> None:
    a, b = _row(engine, 4), _row(engine, 5)
    content = [f for f in (*HASHED_FIELDS, "row_hash") if f != "sequence"]
    _update(engine, 4, **{f: b[f] for f in content})
    _update(engine, 5, **{f: a[f] for f in content})


def _edit_and_rehash(engine: Engine) -> None:
    row = _row(engine, 4)
    row["answer"] = "rewritten"
    _update(engine, 4, answer="rewritten", row_hash=row_hash(row))


TAMPERING: list[tuple[Callable[[Engine], None], int, str]] = [
    (_edit_question, 4, "edited"),
    (_edit_answer, 4, "edited"),
    (_edit_status, 4, "edited"),
    (_edit_score_in_json, 4, "edited"),
    (_edit_timestamp, 4, "edited"),
    (_delete_middle_row, 4, "missing"),
    (_delete_first_row, 1, "missing"),
    (_delete_middle_row_and_renumber, 4, "edited"),
    (_insert_forged_row, 5, "does not link"),
    (_swap_contents, 4, "edited"),
    (_edit_and_rehash, 5, "does not link"),
]


@pytest.mark.parametrize(("tamper", "first_bad", "problem"), TAMPERING, ids=[t[0].__name__ for t in TAMPERING])
def test_tampering_is_detected_at_the_first_bad_sequence(
    log: AuditLog, engine: Engine, tamper: Callable[[Engine], None], first_bad: int, problem: str
) -> None:
    assert log.verify().ok
    tamper(engine)
    result = log.verify()
    assert not result.ok
    assert result.first_bad_sequence == first_bad
    assert result.problem is not None and problem in result.problem


def test_deleting_the_last_row_is_not_detectable_by_the_chain_alone(log: AuditLog, engine: Engine) -> None:
    """The chain alone cannot see it; the signed anchors can (tests/integration/test_audit_anchors.py)."""
    with engine.begin() as conn:
        conn.execute(delete(T).where(T.c.sequence == ROWS))
    result = log.verify()
    assert result.ok and result.rows_checked == ROWS - 1


def test_a_duplicate_sequence_is_refused_by_the_database(log: AuditLog, engine: Engine) -> None:
    copy = _row(engine, 4)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(T), copy)


def test_appending_after_tampering_extends_the_tampered_chain_and_verify_still_fails(
    log: AuditLog, engine: Engine
) -> None:
    _edit_answer(engine)
    log.append(make_record(100))
    assert log.verify().first_bad_sequence == 4


def test_ping_passes_on_a_migrated_database(engine: Engine) -> None:
    AuditLog(engine).ping()
