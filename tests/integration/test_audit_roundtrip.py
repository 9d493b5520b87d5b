"""Property: whatever a record holds, what SQLite or PostgreSQL gives back hashes as written."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import migrate
from gateway.audit.chain import row_hash
from gateway.audit.log import AuditLog
from gateway.audit.record import AuditRecord, RetrievedRef
from gateway.db import make_engine

TEXT = st.text(st.characters() | st.sampled_from(["\x00", "\ud800", "é", "𝄞", "\n"]), max_size=40)
SCALARS = st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.floats() | TEXT
JSON = st.recursive(
    SCALARS,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
    max_leaves=8,
)
ZONES = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))])

RECORDS = st.builds(
    AuditRecord,
    request_id=st.text(max_size=128),
    kind=st.sampled_from(["ask", "search", "admin", "ingest", "delete"]),
    status=st.sampled_from(["answered", "no_answer", "refused", "failed", "ok"]),
    tenant=st.text(max_size=128),
    subject=st.text(max_size=255),
    groups=st.lists(TEXT, max_size=4).map(tuple),
    policy_version=st.integers(min_value=0, max_value=2**31 - 1),
    occurred_at=st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=ZONES),
    action=st.text(max_size=128),
    question=st.none() | TEXT,
    answer=st.none() | TEXT,
    citations=st.lists(st.dictionaries(st.text(max_size=6), JSON, max_size=3), max_size=3).map(tuple),
    retrieved=st.lists(
        st.builds(RetrievedRef, TEXT, TEXT, st.integers(0, 2**31 - 1), st.floats(allow_nan=False)), max_size=3
    ).map(tuple),
    generator=st.none() | st.text(max_size=255),
    guards=st.dictionaries(st.text(max_size=6), JSON, max_size=3),
    latencies_ms=st.dictionaries(st.text(max_size=6), st.floats(min_value=0, max_value=1e9), max_size=3),
    details=st.dictionaries(st.text(max_size=6), JSON, max_size=3),
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def log(request: pytest.FixtureRequest) -> Iterator[AuditLog]:
    url: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    migrate.upgrade(url)
    engine = make_engine(url)
    yield AuditLog(engine)
    engine.dispose()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(record=RECORDS)
def test_rows_read_back_hash_as_they_were_written(log: AuditLog, record: AuditRecord) -> None:
    entry = log.append(record)
    rows: list[dict[str, Any]] = list(log.iter_rows(since=entry.sequence - 1))
    assert rows[0]["sequence"] == entry.sequence
    assert rows[0]["row_hash"] == entry.row_hash == row_hash(rows[0])


def test_the_whole_property_chain_verifies(log: AuditLog) -> None:
    """The same generator, then one verify over everything it wrote."""

    @settings(max_examples=30, deadline=None)
    @given(record=RECORDS)
    def append(record: AuditRecord) -> None:
        log.append(record)

    append()
    result = log.verify(batch=7)
    assert result.ok, result.problem
