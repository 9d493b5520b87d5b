"""``gateway finetune`` (datasets, LoRA training, gates, generation, activation) and ``gateway model install``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gateway.commands.operator import Operator
from gateway.errors import GatewayError

console = Console(stderr=True)


def _settings() -> Any:
    from gateway.cli import _settings as load  # noqa: PLC0415 - the CLI's one settings loader

    return load()


def _engine(operator: Operator) -> Any:
    from gateway.audit.log import AuditLog  # noqa: PLC0415
    from gateway.db import make_engine  # noqa: PLC0415
    from gateway.deps import provide_scrubber, secure_storage  # noqa: PLC0415
    from gateway.finetune.engine import FinetuneEngine  # noqa: PLC0415
    from gateway.finetune.registry import AdapterRegistry  # noqa: PLC0415
    from guards.poisoning.screen import default_screen  # noqa: PLC0415

    settings = _settings()
    secure_storage(settings)
    engine = make_engine(settings.resolved_database_url)
    return FinetuneEngine(
        AdapterRegistry(engine),
        AuditLog(engine),
        provide_scrubber(settings),
        default_screen(),
        settings.data_dir / "finetune",
        operator,
    )


def _fail(exc: GatewayError, code: int = 1) -> None:
    console.print(f"[red]{exc.detail}[/red]")
    raise SystemExit(code)


@click.group()
def model() -> None:
    """Local models for generation and fine-tuning."""


@model.command("install")
@click.argument("name", type=click.Choice(["smollm2"]))
@click.option("--force", is_flag=True, help="rebuild the directory even if it exists")
def model_install(name: str, force: bool) -> None:
    """Prepare a plain transformers directory under the data dir (offline); prints its path last."""
    from gateway.finetune.install import install_model  # noqa: PLC0415

    settings = _settings()
    try:
        path = install_model(name, settings.data_dir / "models", force=force)
    except GatewayError as exc:
        _fail(exc, 2)
    click.echo(str(path))


@click.group()
def finetune() -> None:
    """Scrubbed datasets, LoRA adapters, safety gates and per-tenant activation."""


@finetune.group("dataset")
def dataset() -> None:
    """Fine-tuning datasets."""


def _readable(tenant: str, groups: tuple[str, ...]) -> Any:
    from gateway.authz.service import PolicyService  # noqa: PLC0415
    from gateway.db import make_engine  # noqa: PLC0415
    from gateway.deps import MODEL_PATH  # noqa: PLC0415
    from gateway.finetune.sources import audience_reader  # noqa: PLC0415
    from gateway.ingest.registry import DocumentRegistry  # noqa: PLC0415

    engine = make_engine(_settings().resolved_database_url)
    policy = PolicyService(engine, MODEL_PATH)
    policy.reload()  # one snapshot for this command: no poller thread
    return audience_reader(policy.current(), DocumentRegistry(engine).get, tenant, groups)


@dataset.command("build")
@click.option("--tenant", default="default", show_default=True)
@click.option(
    "--file",
    "files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSONL of chat (messages) or instruction (instruction/output, prompt/completion) examples",
)
@click.option(
    "--audit-record",
    "records",
    multiple=True,
    type=int,
    help="sequence of an answered audit record you approve as an example (repeatable)",
)
@click.option(
    "--audience-group",
    "groups",
    multiple=True,
    help="the adapter's audience (default: every member of the tenant); sources must be readable by it",
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--eval-fraction", default=0.1, show_default=True, type=float)
@click.pass_obj
def dataset_build(
    operator: Operator,
    tenant: str,
    files: tuple[Path, ...],
    records: tuple[int, ...],
    groups: tuple[str, ...],
    seed: int,
    eval_fraction: float,
) -> None:
    """Scrub, screen, de-duplicate and split examples; record the lineage. Prints the dataset id last."""
    from gateway.finetune.sources import audit_sources, file_source  # noqa: PLC0415

    engine = _engine(operator)
    try:
        sources = [file_source(f) for f in files] + audit_sources(engine.audit, tenant, records)
        if not sources:
            raise click.UsageError("give --file or --audit-record")
        row = engine.build(
            sources, tenant=tenant, readable=_readable(tenant, groups), seed=seed, eval_fraction=eval_fraction
        )
    except GatewayError as exc:
        _fail(exc)
    console.print(json.dumps({"split": row.split, "scrub": row.scrub_report, "screen": row.screen_report}))
    click.echo(row.id)


@finetune.command("train")
@click.option("--base", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="JSONL examples")
@click.option("--dataset", "dataset_id", help="a dataset built with `finetune dataset build`")
@click.option("--name", required=True)
@click.option("--tenant", default="default", show_default=True, help="with --data: the dataset's tenant")
@click.option("--steps", type=int, default=None, help="optimizer steps (default: --epochs passes)")
@click.option("--epochs", type=float, default=1.0, show_default=True)
@click.option("--learning-rate", type=float, default=2e-4, show_default=True)
@click.option("--rank", type=int, default=8, show_default=True)
@click.option("--max-length", type=int, default=256, show_default=True)
@click.option("--batch-size", type=int, default=4, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--canary-repeats", type=click.IntRange(1, 1000), default=1, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda")
@click.option("--checkpoint-every", type=click.IntRange(1), default=50, show_default=True,
              help="save a resumable checkpoint every N steps")  # fmt: skip
@click.pass_obj
def train_cmd(
    operator: Operator,
    base: Path,
    data: Path | None,
    dataset_id: str | None,
    name: str,
    tenant: str,
    steps: int | None,
    epochs: float,
    learning_rate: float,
    rank: int,
    max_length: int,
    batch_size: int,
    seed: int,
    canary_repeats: int,
    device: str,
    checkpoint_every: int,
) -> None:
    """LoRA-train an adapter (input scrubbed and screened first), register it, run the gates.

    Prints the adapter directory last. Re-running the same command resumes from its checkpoint.
    """
    from gateway.finetune.sources import file_source  # noqa: PLC0415
    from gateway.finetune.train import TrainParams  # noqa: PLC0415

    if (data is None) == (dataset_id is None):
        raise click.UsageError("give exactly one of --data and --dataset")
    engine = _engine(operator)
    params = TrainParams(
        steps=steps,
        epochs=epochs,
        learning_rate=learning_rate,
        rank=rank,
        max_length=max_length,
        batch_size=batch_size,
        seed=seed,
        canary_repeats=canary_repeats,
        device=device,
        checkpoint_every=checkpoint_every,
    )
    try:
        if data is not None:
            row = engine.build([file_source(data)], tenant=tenant, readable=_readable(tenant, ()), seed=seed)
        else:
            row = engine.registry.dataset(dataset_id or "")
            if row is None:
                raise click.UsageError(f"no dataset {dataset_id}")
        columns = (
            TextColumn("train"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
        )
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("train", total=None, loss=float("nan"))
            adapter = engine.train(
                base=base,
                dataset=row,
                name=name,
                params=params,
                progress=lambda s, t, loss: progress.update(task, completed=s, total=t, loss=loss),
            )
        report = engine.gate(adapter)
    except GatewayError as exc:
        _fail(exc)
    _print_report(report)
    click.echo(adapter.path)


def _print_report(report: dict[str, Any]) -> None:
    for name, gate in report.items():
        if isinstance(gate, dict) and "passed" in gate:
            mark = "[green]pass[/green]" if gate["passed"] else "[red]FAIL[/red]"
            shown = {k: v for k, v in gate.items() if k != "passed"}
            console.print(f"{mark} {name}: {json.dumps(shown)}")
    console.print("gates " + ("[green]passed[/green]" if report["passed"] else "[red]failed[/red]"))


@finetune.command("gate")
@click.argument("name")
@click.option("--version", type=int, default=None)
@click.option("--max-exposure", type=float, default=7.0, show_default=True, help="canary exposure threshold (bits)")
@click.option("--references", type=click.IntRange(1000), default=1000, show_default=True)
@click.pass_obj
def gate_cmd(operator: Operator, name: str, version: int | None, max_exposure: float, references: int) -> None:
    """Run the safety gates; store and print the report; exit 1 if any gate fails."""
    from gateway.finetune.gates import GateConfig  # noqa: PLC0415

    engine = _engine(operator)
    adapter = engine.registry.adapter(name, version)
    if adapter is None:
        raise click.UsageError(f"no adapter {name}")
    try:
        report = engine.gate(adapter, GateConfig(max_exposure=max_exposure, references=references))
    except GatewayError as exc:
        _fail(exc)
    _print_report(report)
    raise SystemExit(0 if report["passed"] else 1)


@finetune.command("generate")
@click.argument("name")
@click.argument("prompt")
@click.option("--version", type=int, default=None)
@click.option("--max-new-tokens", type=click.IntRange(1, 2048), default=64, show_default=True)
@click.pass_obj
def generate_cmd(operator: Operator, name: str, prompt: str, version: int | None, max_new_tokens: int) -> None:
    """Print the adapter's greedy completion of PROMPT, one user message rendered as training and serving do."""
    from gateway.finetune.lm import device_of, greedy, load_with_adapter  # noqa: PLC0415

    adapter = _engine(operator).registry.adapter(name, version)
    if adapter is None:
        raise click.UsageError(f"no adapter {name}")
    model_, tokenizer = load_with_adapter(adapter.base, adapter.path, device_of())
    click.echo(greedy(model_, tokenizer, prompt, max_new_tokens=max_new_tokens))


@finetune.command("activate")
@click.argument("name")
@click.option("--tenant", required=True)
@click.option("--version", type=int, default=None)
@click.pass_obj
def activate_cmd(operator: Operator, name: str, tenant: str, version: int | None) -> None:
    """Serve the adapter in TENANT; refused unless its safety gates passed. Audited."""
    try:
        row = _engine(operator).activate(name, tenant, version)
    except GatewayError as exc:
        _fail(exc)
    click.echo(f"tenant '{tenant}' now serves {row.name} v{row.version}")


@finetune.command("rollback")
@click.option("--tenant", required=True)
@click.pass_obj
def rollback_cmd(operator: Operator, tenant: str) -> None:
    """Return TENANT to the adapter it served before the current one. Audited."""
    try:
        moved_from, moved_to = _engine(operator).rollback(tenant)
    except GatewayError as exc:
        _fail(exc)
    click.echo(f"tenant '{tenant}': adapter {moved_from} -> {moved_to or 'base model'}")


@finetune.command("list")
@click.option("--tenant", default="default", show_default=True)
@click.pass_obj
def list_cmd(operator: Operator, tenant: str) -> None:
    """The tenant's adapters, their status and the active one."""
    registry = _engine(operator).registry
    active = registry.active_adapter(tenant)
    for row in registry.adapters(tenant):
        mark = "*" if active is not None and active.id == row.id else " "
        click.echo(f"{mark} {row.name} v{row.version}  {row.status}  dataset {row.dataset_id}  {row.path}")
