"""CLI changes are audited with the operator's OS account, and not applied when the audit store
refuses (issue 7, item 4)."""

from __future__ import annotations

import pwd
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from gateway.audit.log import AuditLog
from gateway.authz.store import PolicyStore
from gateway.cli import main
from gateway.db import make_engine

REPO = Path(__file__).resolve().parents[2]
SAMPLE_POLICY = str(REPO / "data" / "sample" / "policy.csv")


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("GATEWAY_ENVIRONMENT", "test")
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("USER", "someone-else")  # must not be what the audit trail believes
    runner = CliRunner()
    assert runner.invoke(main, ["migrate"]).exit_code == 0
    return runner


def test_policy_load_is_audited_per_tenant_as_the_os_account(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(main, ["--operator", "ticket-42", "policy", "load", "--file", SAMPLE_POLICY])
    assert result.exit_code == 0, result.output
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.sqlite3'}")
    rows = AuditLog(engine).search(tenant="northwind", kind="admin")
    account = pwd.getpwuid(__import__("os").getuid()).pw_name
    assert rows[0]["action"] == "policy.load" and rows[0]["subject"] == f"cli:{account}"
    assert rows[0]["details"]["operator"] == "ticket-42" and rows[0]["details"]["rules_after"] > 0
    assert AuditLog(engine).search(tenant="*", kind="admin")[0]["action"] == "policy.load"
    engine.dispose()


def test_policy_load_is_not_applied_when_the_audit_store_refuses(cli: CliRunner, tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.sqlite3'}")
    before = PolicyStore(engine).load()
    with engine.begin() as conn:
        conn.execute(text("CREATE TRIGGER audit_down BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'no'); END"))
    result = cli.invoke(main, ["policy", "load", "--file", SAMPLE_POLICY])
    assert result.exit_code == 1 and "not loaded" in result.output
    assert PolicyStore(engine).load() == before
    engine.dispose()
