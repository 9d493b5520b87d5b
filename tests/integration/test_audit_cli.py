"""``gateway audit ...`` end to end on SQLite: export with a manifest, verify it elsewhere, purge, verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from audit_kit import T0, make_kit
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from gateway.cli import main


@pytest.fixture
def env(tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    kit = make_kit(sqlite_url, tmp_path / "data")
    kit.fill(12)
    kit.engine.dispose()
    values = {
        "GATEWAY_ENVIRONMENT": "test",
        "GATEWAY_DATA_DIR": str(tmp_path / "data"),
        "GATEWAY_DATABASE_URL": sqlite_url,
        "GATEWAY_AUDIT_ANCHOR_SINK": str(tmp_path / "data" / "anchors.jsonl"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, ["audit", *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_export_then_verify_export_with_only_the_public_key(env: dict[str, str], tmp_path: Path) -> None:
    assert "no signed anchor" in run("verify", code=1)
    run("anchor")
    assert "audit chain OK: 12 rows" in run("verify")
    out = tmp_path / "out" / "audit.parquet"
    out.parent.mkdir()
    assert "exported 12 rows" in run("export", "--format", "parquet", "--output", str(out), "--from", "2026-11-01")
    (tmp_path / "keys.json").write_text(run("public-key"))
    assert "export OK: 12 rows" in run("verify-export", str(out), "--public-key", str(tmp_path / "keys.json"))
    out.write_bytes(out.read_bytes()[:-20] + b"\0" * 20)
    assert "FAILED" in run("verify-export", str(out), "--public-key", str(tmp_path / "keys.json"), code=1)


def test_the_export_is_itself_audited_and_anchored(env: dict[str, str], tmp_path: Path) -> None:
    run("export", "--output", str(tmp_path / "a.jsonl"), "--tenant", "acme", "--metadata")
    assert "13 rows" in run("verify") and "0 rows after it" in run("verify")
    last = run("export", "--output", str(tmp_path / "b.jsonl"), "--kind", "admin")
    assert "exported 4 rows" in last  # rows 4, 8, 12 and the first export's own row
    row = json.loads((tmp_path / "b.jsonl").read_text().splitlines()[-1])
    assert row["action"] == "audit.export" and row["details"]["rows"] == 6 and row["subject"].startswith("cli:")


def test_subject_access_and_purge_keep_the_chain_verifiable(env: dict[str, str], tmp_path: Path) -> None:
    run("anchor")
    assert "exported 4 rows about user-2" in run("subject-access", "user-2", "--output", str(tmp_path / "s.csv"))
    assert "export OK" in run("verify-export", str(tmp_path / "s.csv"))
    assert "emptied 2 rows" in run("purge", "--tenant", "globex", "--before", (T0.replace(hour=15)).isoformat())
    assert "2 emptied by retention" in run("verify")
    assert "audit chain OK" in run("verify", "--from", "2026-11-01T10:00", "--to", "2026-11-01T12:00")


def test_verify_export_reads_a_pem_public_key(env: dict[str, str], tmp_path: Path) -> None:
    from gateway.audit.keys import load_signer
    from gateway.settings import Settings

    run("export", "--output", str(tmp_path / "a.jsonl"))
    pem = load_signer(Settings()).public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "pub.pem").write_bytes(pem)
    assert "export OK" in run("verify-export", str(tmp_path / "a.jsonl"), "--public-key", str(tmp_path / "pub.pem"))
