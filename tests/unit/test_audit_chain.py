"""Canonical JSON and the row hash: the byte-level contract that chains and exports rely on."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.audit.chain import (
    CONTENT_FIELDS,
    GENESIS_HASH,
    HASHED_FIELDS,
    UnknownHashFormat,
    canonical_dict,
    canonical_row,
    content_hash,
    json_value,
    metadata_dict,
    row_hash,
    stored_row,
)
from gateway.audit.record import AuditRecord, RetrievedRef
from gateway.audit.visibility import REDACTED

CET = timezone(timedelta(hours=1))


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"b": 1, "a": 2}, b'{"a":2,"b":1}'),
        ({"nested": {"z": [1, 2], "y": None}}, b'{"nested":{"y":null,"z":[1,2]}}'),
        ({"t": (1, "x")}, b'{"t":[1,"x"]}'),
        ({"s": "é ✓"}, '{"s":"é ✓"}'.encode()),
        ({"f": 0.1, "g": 1.0, "h": -0.0, "i": 1e16}, b'{"f":0.1,"g":1.0,"h":-0.0,"i":1e+16}'),
        ({"nan": float("nan"), "inf": float("inf")}, b'{"inf":"Infinity","nan":"NaN"}'),
        ({"at": datetime(2026, 11, 25, 10, 0, tzinfo=CET)}, b'{"at":"2026-11-25T09:00:00.000000Z"}'),
        ({"at": datetime(2026, 11, 25, 9, 0, 0, 7)}, b'{"at":"2026-11-25T09:00:00.000007Z"}'),
        ({"nul": "a\x00b"}, '{"nul":"a\ufffdb"}'.encode()),
        ({1: True}, b'{"1":true}'),
    ],
    ids=[
        "sorted-keys",
        "nested",
        "tuple",
        "utf8",
        "floats",
        "non-finite",
        "tz-to-utc",
        "naive-is-utc",
        "nul",
        "key",
    ],
)
def test_canonical_row_rules(row: dict[Any, Any], expected: bytes) -> None:
    assert canonical_row(row) == expected


def test_canonical_row_treats_a_datetime_and_its_rfc3339_string_alike() -> None:
    at = datetime(2026, 11, 25, 10, 0, 0, 5, tzinfo=CET)
    assert canonical_row({"at": at}) == canonical_row({"at": "2026-11-25T09:00:00.000005Z"})


def _record(**overrides: Any) -> AuditRecord:
    values: dict[str, Any] = {
        "request_id": "req-1",
        "kind": "ask",
        "status": "answered",
        "tenant": "acme",
        "subject": "alice",
        "groups": ("staff",),
        "policy_version": 7,
        "occurred_at": datetime(2026, 11, 25, 9, 0, tzinfo=UTC),
        "question": "Where?",
        "answer": "There [1].",
        "retrieved": (RetrievedRef("d#0", "d", 1, 0.5),),
        "latencies_ms": {"total": 12.5},
    }
    values.update(overrides)
    return AuditRecord(**values)


def test_golden_hash_of_a_format_1_first_row_never_changes() -> None:
    """Pinned: rows written before format 2 keep verifying exactly as they were written."""
    row = {**stored_row(_record(), sequence=1, prev_hash=GENESIS_HASH), "hash_format": 1}
    assert canonical_row({f: row[f] for f in HASHED_FIELDS}) == (
        b'{"action":"","answer":"There [1].","citations":[],"details":{},"generator":null,'
        b'"groups":["staff"],"guards":{},"kind":"ask","latencies_ms":{"total":12.5},'
        b'"occurred_at":"2026-11-25T09:00:00.000000Z","policy_version":7,"prev_hash":"' + b"0" * 64 + b'",'
        b'"question":"Where?","request_id":"req-1",'
        b'"retrieved":[{"chunk_id":"d#0","document_id":"d","score":0.5,"version":1}],'
        b'"sequence":1,"status":"answered","subject":"alice","tenant":"acme"}'
    )
    assert row_hash(row) == "658f1140a15f9121eb2415d1e532d6e48774955e59f8b9ad2488c73287cd7c43"


def test_golden_hash_of_a_format_2_first_row_never_changes() -> None:
    """Pinned: the contract of every new row (and of exports): content hashed apart, then the metadata."""
    row = stored_row(_record(), sequence=1, prev_hash=GENESIS_HASH)
    assert row["hash_format"] == 2
    assert canonical_row({f: row[f] for f in CONTENT_FIELDS}) == (
        b'{"answer":"There [1].","citations":[],"question":"Where?"}'
    )
    assert content_hash(row) == "98b5ff02ba86819b86f79306133d2d0854e5b63842dd4055f56de0924407e896"
    assert row["row_hash"] == "f6b1b154458292627ff462ffc0f1447b0f328c0f4451d47dd9d9990607e54c34"


def test_a_metadata_view_of_a_format_2_row_hashes_like_the_row() -> None:
    row = canonical_dict(stored_row(_record(), sequence=1, prev_hash=GENESIS_HASH))
    view = metadata_dict(row)
    assert view["question"] == view["answer"] == REDACTED and view["content_redacted"] is True
    assert row_hash(view) == row["row_hash"]
    assert row_hash({**view, "question": "anything"}) == row["row_hash"]  # redacted text is not what is hashed
    assert row_hash({**view, "content_hash": "0" * 64}) != row["row_hash"]


@pytest.mark.parametrize("fmt", [1, 3, "2"])
def test_switching_the_hash_format_changes_or_refuses_the_hash(fmt: object) -> None:
    row = stored_row(_record(), sequence=1, prev_hash=GENESIS_HASH)
    try:
        assert row_hash({**row, "hash_format": fmt}) != row["row_hash"]
    except UnknownHashFormat:
        assert fmt != 1


@pytest.mark.parametrize("field", [f for f in HASHED_FIELDS if f != "occurred_at"])
def test_every_hashed_field_changes_the_hash(field: str) -> None:
    row = stored_row(_record(), sequence=1, prev_hash=GENESIS_HASH)
    edited = {**row, field: "something else"}
    assert row_hash(edited) != row["row_hash"]


def test_timestamp_changes_the_hash() -> None:
    row = stored_row(_record(), sequence=1, prev_hash=GENESIS_HASH)
    assert row_hash({**row, "occurred_at": row["occurred_at"] + timedelta(microseconds=1)}) != row["row_hash"]


def test_stored_row_rounds_scores_and_latencies() -> None:
    record = _record(retrieved=(RetrievedRef("d#0", "d", 1, 2 / 3),), latencies_ms={"total": 1.23456})
    row = stored_row(record, sequence=1, prev_hash=GENESIS_HASH)
    assert row["retrieved"][0]["score"] == 0.666667
    assert row["latencies_ms"] == {"total": 1.235}


# --- properties

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats()
    | st.text(st.characters() | st.sampled_from(["\x00", "\ud800", "é", "𝄞"]))
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=8), st.randoms(use_true_random=False))
def test_canonical_row_is_stable_under_key_order(row: dict[str, Any], rnd: random.Random) -> None:
    items = list(row.items())
    rnd.shuffle(items)
    assert canonical_row(dict(items)) == canonical_row(row)


@given(JSON_VALUES)
def test_json_value_is_idempotent_and_canonical_row_parses_back(value: Any) -> None:
    once = json_value(value)
    assert canonical_row({"v": json_value(once)}) == canonical_row({"v": once})
    assert canonical_row(json.loads(canonical_row({"v": value}))) == canonical_row({"v": value})


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)))
def test_timestamps_keep_microseconds(at: datetime) -> None:
    row = stored_row(_record(occurred_at=at), sequence=1, prev_hash=GENESIS_HASH)
    assert canonical_dict(row)["occurred_at"] == at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


@settings(max_examples=200)
@given(
    details=st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=5),
    guards=st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=3),
    score=st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
    latency=st.floats(min_value=0, max_value=1e7),
    question=st.text(),
)
def test_a_json_round_trip_like_the_databases_preserves_the_hash(
    details: dict[str, Any], guards: dict[str, Any], score: float, latency: float, question: str
) -> None:
    record = _record(
        details=details,
        guards=guards,
        question=question,
        retrieved=(RetrievedRef("d#0", "d", 1, score),),
        latencies_ms={"total": latency},
    )
    row = stored_row(record, sequence=3, prev_hash="a" * 64)
    # What a JSON column does: serialise on the way in, parse on the way out.
    read_back = {k: json.loads(json.dumps(v)) if k not in ("occurred_at",) else v for k, v in row.items()}
    read_back["occurred_at"] = row["occurred_at"].replace(tzinfo=None)  # SQLite returns naive UTC
    assert row_hash(read_back) == row["row_hash"]
    assert row_hash(canonical_dict(read_back)) == row["row_hash"]
