"""``gateway dataset scrub IN.jsonl OUT.jsonl``: pseudonymise a fine-tuning dataset before training.

Chat and instruction records, one output line per input line in the same order. Batches of records
are scrubbed in worker processes (each loads the PII engine once); surrogates are derived from the
dataset seed and the value, so every process picks the same pseudonym for the same value. The
output is written next to its destination and moved into place only when the residual re-scan stays
under the policy's rate: a failed run leaves no half-scrubbed file behind. The reversible mapping is
written only when asked for, encrypted with ``GATEWAY_PII_MAPPING_KEY`` (Fernet).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from cryptography.fernet import Fernet
from pydantic import SecretStr
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:  # presidio and spaCy load only when a dataset command runs
    from guards.pii.dataset import ScrubReport
    from guards.pii.engine import PiiEngine
    from guards.pii.policy import PiiPolicy

console = Console(stderr=True)
_worker_engine: PiiEngine | None = None


def _init_worker(policy_json: str, ner: bool) -> None:
    global _worker_engine  # noqa: PLW0603 - one engine per worker process, built once
    from guards.pii.engine import PiiEngine  # noqa: PLC0415
    from guards.pii.policy import PiiPolicy  # noqa: PLC0415

    _worker_engine = PiiEngine(PiiPolicy.model_validate_json(policy_json), ner=ner)


def _scrub_batch(
    batch: list[dict[str, Any]], seed: str, keep_mapping: bool
) -> tuple[list[dict[str, Any]], ScrubReport]:
    if _worker_engine is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("worker without an engine")
    from guards.pii.dataset import scrub_records  # noqa: PLC0415

    return scrub_records(batch, engine=_worker_engine, seed=seed, keep_mapping=keep_mapping)


def read_records(path: Path) -> list[dict[str, Any]]:
    """The JSON-lines records of ``path`` (blank lines skipped); a bad line names its number."""
    records = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise click.ClickException(f"line {number} is not JSON") from None
            if not isinstance(record, dict):
                raise click.ClickException(f"line {number} is not a JSON object")
            records.append(record)
    return records


def _batches(records: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(records), size):
        yield records[start : start + size]


def scrub_file(
    source: Path, *, policy: PiiPolicy, ner: bool, seed: str, workers: int, batch_records: int, keep_mapping: bool,
) -> tuple[list[dict[str, Any]], ScrubReport]:  # fmt: skip
    """Scrub every record of ``source`` in ``workers`` processes, with a progress bar."""
    from guards.pii.dataset import ScrubReport  # noqa: PLC0415

    records = read_records(source)
    report = ScrubReport(mapping={} if keep_mapping else None)
    out: list[dict[str, Any]] = []
    columns = (TextColumn("scrub"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    context = multiprocessing.get_context("fork")
    init = (policy.model_dump_json(), ner)
    with (
        Progress(*columns, console=console) as progress,
        ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=init) as pool,
    ):
        task = progress.add_task("scrub", total=len(records))
        batches = list(_batches(records, batch_records))
        futures = [pool.submit(_scrub_batch, batch, seed, keep_mapping) for batch in batches]
        for future in futures:  # in order: one output line per input line
            scrubbed, part = future.result()
            out.extend(scrubbed)
            report.merge(part)
            progress.update(task, advance=len(scrubbed))
    return out, report


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


@click.group()
def dataset() -> None:
    """Fine-tuning datasets."""


@dataset.command("scrub")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--seed", default=None, help="pseudonym seed (default: derived from the input file's content)")
@click.option("--workers", type=int, default=None, help="processes (default GATEWAY_PII_DATASET_WORKERS)")
@click.option("--batch-records", type=int, default=128, show_default=True)
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="where the JSON report goes (default TARGET.report.json)")  # fmt: skip
@click.option("--mapping", "mapping_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write the reversible mapping here, encrypted with GATEWAY_PII_MAPPING_KEY")  # fmt: skip
def scrub_cmd(
    source: Path, target: Path, seed: str | None, workers: int | None, batch_records: int,
    report_path: Path | None, mapping_path: Path | None,
) -> None:  # fmt: skip
    """Pseudonymise SOURCE (chat or instruction JSON lines) into TARGET; fail on residual PII."""
    from gateway.cli import _settings  # noqa: PLC0415 - the CLI's one settings loader
    from gateway.deps import provide_pii_policy  # noqa: PLC0415

    settings = _settings()
    fernet = _mapping_cipher(settings.pii.mapping_key) if mapping_path is not None else None
    policy = provide_pii_policy(settings)
    seed = seed or hashlib.sha256(source.read_bytes()).hexdigest()
    out, report = scrub_file(
        source, policy=policy, ner=settings.pii.ner, seed=seed, workers=workers or settings.pii.dataset_workers,
        batch_records=batch_records, keep_mapping=mapping_path is not None,
    )  # fmt: skip
    summary = report.summary() | {"max_residual_rate": policy.dataset.max_residual_rate}
    (report_path or target.with_name(target.name + ".report.json")).write_text(json.dumps(summary, indent=2) + "\n")
    click.echo(f"{report.records} records, {report.texts} texts; replaced {dict(sorted(report.counts.items()))}; "
               f"residual rate {report.residual_rate:.4f}")  # fmt: skip
    if report.residual_rate > policy.dataset.max_residual_rate:
        raise click.ClickException(
            f"residual PII in {report.residual_texts} of {report.texts} texts ({report.residual_rate:.2%}) is above "
            f"{policy.dataset.max_residual_rate:.2%}: {target} was not written"
        )
    pending = target.with_name(f".{target.name}.partial")
    _write_private(pending, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out).encode())
    pending.replace(target)
    if mapping_path is not None and fernet is not None:
        _write_private(mapping_path, fernet.encrypt(json.dumps(report.mapping).encode()))


def _mapping_cipher(key: SecretStr | None) -> Fernet:
    """The mapping's cipher, checked before any work: the mapping is never stored in clear."""
    if key is None or not key.get_secret_value():
        raise click.UsageError(
            "--mapping needs GATEWAY_PII_MAPPING_KEY (a Fernet key): the mapping is never stored in clear"
        )
    try:
        return Fernet(key.get_secret_value().encode())
    except ValueError:
        raise click.UsageError(
            "GATEWAY_PII_MAPPING_KEY is not a Fernet key (32 url-safe base64-encoded bytes)"
        ) from None
