"""Exports on SQLite and PostgreSQL, verified offline: every tampering with file or manifest is caught."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from audit_kit import T0, Kit, kit_fixture, make_kit, module_database  # noqa: F401 - kit_fixture provides `kit`
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.audit.export import Exporter, ExportFilter, manifest_path, sign_manifest
from gateway.audit.formats import FileFormat
from gateway.audit.keys import AuditSigner, Keyring
from gateway.audit.offline import ExportReport, load_manifest, verify_export

ROWS = 24


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kit]:
    """One filled, anchored database per module and backend: exports only read it."""
    directory = tmp_path_factory.mktemp(f"export-{request.param}")
    with module_database(request.param, directory) as url:
        made = make_kit(url, directory / "data")
        made.fill(ROWS, anchor_every=8)
        yield made
        made.engine.dispose()


@pytest.fixture
def filled(shared: Kit) -> Kit:
    return shared


def export(kit: Kit, tmp_path: Path, fmt: FileFormat = "jsonl", flt: ExportFilter | None = None, **kw: Any) -> Path:
    path = tmp_path / f"audit.{fmt}"
    Exporter(kit.log, kit.store, kit.signer, batch=5).export(flt or ExportFilter(), fmt, path, **kw)
    return path


def check(kit: Kit, path: Path, keyring: Keyring | None = None) -> ExportReport:
    return verify_export(path, load_manifest(manifest_path(path)), keyring or kit.keyring())


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_a_full_export_verifies_offline_against_its_anchors(filled: Kit, tmp_path: Path, fmt: FileFormat) -> None:
    path = export(filled, tmp_path, fmt)
    report = check(filled, path)
    assert report.ok, report.problems
    assert report.rows == ROWS and report.anchors_matched == 3  # anchors at 8, 16, 24
    manifest = load_manifest(manifest_path(path))
    assert (manifest["row_count"], manifest["first_sequence"], manifest["last_sequence"]) == (ROWS, 1, ROWS)
    assert manifest["contiguous"] and len(manifest["anchors"]) == 3


def test_a_filtered_metadata_export_holds_no_text_and_each_row_verifies(filled: Kit, tmp_path: Path) -> None:
    path = export(filled, tmp_path, "jsonl", ExportFilter(subject="user-1", tenant="acme"), metadata_only=True)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["sequence"] for r in rows] == [1, 7, 13, 19]
    assert "salary" not in path.read_text().lower()  # questions redacted, citation titles dropped
    assert all(r["content_redacted"] and r["content_hash"] and r["citations"][0]["document_id"] for r in rows)
    report = check(filled, path)
    assert report.ok and report.unverifiable_rows == 0


def test_a_time_and_collection_filter_selects_rows(filled: Kit, tmp_path: Path) -> None:
    from datetime import timedelta

    flt = ExportFilter(start=T0 + timedelta(hours=5), end=T0 + timedelta(hours=13), collection="finance")
    path = export(filled, tmp_path, "csv", flt)
    assert check(filled, path).ok
    assert load_manifest(manifest_path(path))["first_sequence"] == 6  # finance: every third row
    assert load_manifest(manifest_path(path))["row_count"] == 3  # 6, 9, 12


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def _edit_row(path: Path) -> None:
    lines = _lines(path)
    lines[-5] = lines[-5].replace("Band", "Bend")
    path.write_text("".join(lines), encoding="utf-8")


def _drop_row(path: Path) -> None:
    lines = _lines(path)
    del lines[-10]
    path.write_text("".join(lines), encoding="utf-8")


def _reorder_rows(path: Path) -> None:
    lines = _lines(path)
    lines[-3], lines[-4] = lines[-4], lines[-3]
    path.write_text("".join(lines), encoding="utf-8")


def _insert_row(path: Path) -> None:
    lines = _lines(path)
    lines.insert(-6, lines[-6])
    path.write_text("".join(lines), encoding="utf-8")


FILE_TAMPERING: list[tuple[Callable[[Path], None], str]] = [
    (_edit_row, "was edited"),
    (_drop_row, "missing from a contiguous export"),
    (_reorder_rows, "reordered"),
    (_insert_row, "reordered"),
]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize(("tamper", "problem"), FILE_TAMPERING, ids=[t[0].__name__.strip("_") for t in FILE_TAMPERING])
def test_a_tampered_export_file_is_detected(
    filled: Kit, tmp_path: Path, fmt: FileFormat, tamper: Callable[[Path], None], problem: str
) -> None:
    path = export(filled, tmp_path, fmt)
    tamper(path)
    report = check(filled, path)
    assert not report.ok
    assert any("SHA-256" in p for p in report.problems)
    assert any(problem in p for p in report.problems), report.problems


def test_an_edited_parquet_value_is_detected(filled: Kit, tmp_path: Path) -> None:
    path = export(filled, tmp_path, "parquet")
    table = pq.read_table(path).to_pylist()
    table[3]["answer"] = "nothing happened"
    import pyarrow as pa

    pq.write_table(pa.Table.from_pylist(table, schema=pq.read_schema(path)), path)
    assert any("row 4 was edited" in p for p in check(filled, path).problems)


def test_a_dropped_row_in_a_filtered_export_changes_the_count(filled: Kit, tmp_path: Path) -> None:
    path = export(filled, tmp_path, "jsonl", ExportFilter(tenant="globex"))
    _drop_row(path)
    assert any("the signed manifest says 12" in p for p in check(filled, path).problems)


def _change_count(manifest: dict[str, Any], _kit: Kit) -> dict[str, Any]:
    return {**manifest, "row_count": manifest["row_count"] - 1}


def _resign_with_foreign_key(manifest: dict[str, Any], _kit: Kit) -> dict[str, Any]:
    return sign_manifest({**manifest, "row_count": 1}, AuditSigner(Ed25519PrivateKey.generate()))


def _claim_the_real_key_id(manifest: dict[str, Any], kit: Kit) -> dict[str, Any]:
    forged = sign_manifest({**manifest, "row_count": 1}, AuditSigner(Ed25519PrivateKey.generate()))
    return {**forged, "key_id": kit.signer.key_id}


@pytest.mark.parametrize("forge", [_change_count, _resign_with_foreign_key, _claim_the_real_key_id])
def test_a_changed_manifest_is_detected(
    filled: Kit, tmp_path: Path, forge: Callable[[dict[str, Any], Kit], dict[str, Any]]
) -> None:
    path = export(filled, tmp_path)
    manifest_path(path).write_text(json.dumps(forge(load_manifest(manifest_path(path)), filled)))
    assert any("signature does not verify" in p for p in check(filled, path).problems)


def test_an_export_does_not_verify_with_a_foreign_public_key(filled: Kit, tmp_path: Path) -> None:
    path = export(filled, tmp_path)
    foreign = Keyring.from_jwks({"keys": []}).with_current(Ed25519PrivateKey.generate().public_key())
    assert not check(filled, path, foreign).ok


def test_an_export_of_a_recomputed_chain_does_not_match_the_signed_anchors(kit: Kit, tmp_path: Path) -> None:
    """The exporter signs what it reads; the anchors in the manifest still expose a rewritten table."""
    from test_audit_anchors import _delete_and_recompute

    kit.fill(ROWS, anchor_every=8)
    _delete_and_recompute(kit)
    path = export(kit, tmp_path)
    report = check(kit, path)
    assert any("does not match the signed anchor" in p for p in report.problems)
