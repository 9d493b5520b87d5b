"""``gateway finetune`` commands: fail closed without the PII guard, list/generate/activate/rollback audited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.audit.log import AuditLog
from gateway.cli import main
from gateway.commands.operator import current_operator
from gateway.db import make_engine
from gateway.finetune.engine import FinetuneEngine
from gateway.finetune.registry import AdapterRegistry
from gateway.finetune.sources import file_source
from gateway.finetune.train import TrainParams
from guards.poisoning.screen import default_screen
from tests.finetune.conftest import real_pii_scrubber

WEEKS = ["one", "two", "three", "four", "five", "six"]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("GATEWAY_ENVIRONMENT", "test")
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    assert runner.invoke(main, ["migrate"]).exit_code == 0
    return runner


def _upload(tmp_path: Path) -> Path:
    path = tmp_path / "upload.jsonl"
    lines = [{"question": f"Who is on call in week {w}?", "answer": f"The support team, week {w}."} for w in WEEKS]
    path.write_text("\n".join(json.dumps(x) for x in lines))
    return path


def _engine(tmp_path: Path) -> FinetuneEngine:
    db = make_engine(f"sqlite:///{tmp_path / 'data' / 'gateway.sqlite3'}")
    return FinetuneEngine(
        AdapterRegistry(db), AuditLog(db), real_pii_scrubber(), default_screen(), tmp_path / "data" / "finetune",
        current_operator(),
    )  # fmt: skip


def test_training_refuses_to_start_without_the_pii_guard(
    cli: CliRunner, tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """There is no switch to skip scrubbing: with the PII guard off nothing is built or trained."""
    monkeypatch.setenv("GATEWAY_PII_ENABLED", "false")
    result = cli.invoke(main, ["finetune", "train", "--base", str(tiny_model), "--data", str(_upload(tmp_path)),
                               "--name", "oncall", "--steps", "2"])  # fmt: skip
    assert result.exit_code == 1
    assert "PII guard" in result.output
    engine = _engine(tmp_path)
    assert engine.registry.datasets("default") == [] and engine.registry.adapter("oncall") is None
    [row] = [r for r in engine.audit.search(kind="admin", limit=20) if r["action"] == "finetune.dataset.build"]
    assert row["status"] == "refused"
    assert not (tmp_path / "data" / "finetune" / "datasets").exists()


def test_list_generate_activate_and_rollback(cli: CliRunner, tmp_path: Path, tiny_model: Path) -> None:
    engine = _engine(tmp_path)
    dataset = engine.build([file_source(_upload(tmp_path))], tenant="acme", readable=lambda _d: True, seed=1)
    params = TrainParams(steps=12, learning_rate=1e-2, batch_size=4, seed=1)
    adapter = engine.train(base=tiny_model, dataset=dataset, name="oncall", params=params)
    refused = cli.invoke(main, ["finetune", "activate", "oncall", "--tenant", "acme"])
    assert refused.exit_code == 1 and "gates have not passed" in refused.output
    assert engine.gate(adapter)["passed"]
    assert cli.invoke(main, ["finetune", "activate", "oncall", "--tenant", "other"]).exit_code == 1
    done = cli.invoke(main, ["finetune", "activate", "oncall", "--tenant", "acme"])
    assert done.exit_code == 0 and "now serves oncall v1" in done.output
    listed = cli.invoke(main, ["finetune", "list", "--tenant", "acme"])
    assert listed.output.startswith("* oncall v1  passed")
    generated = cli.invoke(main, ["finetune", "generate", "oncall", "Who is on call in week two?",
                                  "--max-new-tokens", "6"])  # fmt: skip
    assert generated.exit_code == 0 and generated.output.strip()
    assert cli.invoke(main, ["finetune", "rollback", "--tenant", "acme"]).exit_code == 0
    assert engine.registry.active_adapter("acme") is None
    rows = [r for r in engine.audit.search(kind="admin", limit=50) if r["action"].startswith("finetune.")]
    actions = [(r["action"], r["status"], r["tenant"]) for r in reversed(rows)]
    assert actions == [
        ("finetune.dataset.build", "ok", "acme"), ("finetune.train", "ok", "acme"),
        ("finetune.activate", "refused", "acme"), ("finetune.gate", "ok", "acme"),
        ("finetune.activate", "refused", "other"), ("finetune.activate", "ok", "acme"),
        ("finetune.rollback", "ok", "acme"),
    ]  # fmt: skip
    assert all(r["details"]["via"] == "cli" for r in rows)


def test_train_saves_checkpoints_at_the_cadence_asked(cli: CliRunner, tmp_path: Path, tiny_model: Path) -> None:
    """``--checkpoint-every N``: a long run on a busy machine leaves a usable, resumable state every N steps."""
    engine = _engine(tmp_path)
    dataset = engine.build([file_source(_upload(tmp_path))], tenant="acme", readable=lambda _d: True, seed=1)
    result = cli.invoke(main, ["finetune", "train", "--base", str(tiny_model), "--dataset", dataset.id,
                               "--name", "oncall", "--steps", "3", "--batch-size", "2",
                               "--checkpoint-every", "1"])  # fmt: skip
    assert result.exit_code in (0, 1), result.output  # 1: a gate failed on the tiny model, training still done
    adapter = engine.registry.adapter("oncall")
    assert adapter is not None and adapter.params["checkpoint_every"] == 1
    progress = json.loads((Path(adapter.path) / "checkpoints" / "progress.json").read_text())
    assert progress["step"] == 2 and len(progress["losses"]) == 2  # the last checkpoint before the final save
