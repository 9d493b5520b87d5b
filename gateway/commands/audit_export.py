"""``gateway audit export | subject-access | verify-export | purge | retention``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from gateway.audit.formats import FILE_FORMATS, FileFormat
from gateway.commands.audit import AuditTools, _rows_progress, audit, audit_tools, console, parse_time


def _export(
    tools: AuditTools, flt: Any, fmt: FileFormat, output: Path, metadata_only: bool, action: str
) -> dict[str, Any]:
    """Write one export with a progress bar, then audit it (the export is an audited action)."""
    from gateway.audit.export import Exporter  # noqa: PLC0415
    from gateway.audit.keys import load_signer  # noqa: PLC0415

    exporter = Exporter(
        tools.log, tools.store, load_signer(tools.settings), batch=tools.settings.audit.export_batch_rows
    )
    with _rows_progress("exporting", exporter.count(flt)) as progress:
        task = progress.add_task("export", total=exporter.count(flt))
        manifest = exporter.export(
            flt, fmt, output, metadata_only=metadata_only, progress=lambda n: progress.update(task, completed=n)
        )
    details = {"filters": manifest["filters"], "format": fmt, "content": manifest["content"]}
    details |= {"rows": manifest["row_count"], "file_sha256": manifest["file_sha256"]}
    tools.record(action, details, tenant=flt.tenant or "*")
    return manifest


@audit.command("export")
@click.option("--format", "fmt", type=click.Choice(FILE_FORMATS), default="jsonl", show_default=True)
@click.option("--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--from", "start", default=None, help="rows from this time (ISO 8601, inclusive)")
@click.option("--to", "end", default=None, help="rows before this time (ISO 8601, exclusive)")
@click.option("--tenant", default=None)
@click.option("--subject", default=None)
@click.option("--status", default=None)
@click.option("--kind", default=None)
@click.option("--collection", default=None, help="document changes in this collection")
@click.option("--metadata", "metadata_only", is_flag=True, help="omit question, answer and citations")
def audit_export(
    fmt: FileFormat, output: Path, start: str | None, end: str | None, metadata_only: bool, **row: Any
) -> None:
    """Export rows to OUTPUT and a signed manifest to OUTPUT.manifest.json (streaming, bounded memory)."""
    from gateway.audit.export import ExportFilter  # noqa: PLC0415

    flt = ExportFilter(start=parse_time(start), end=parse_time(end), **row)
    with audit_tools() as tools:
        manifest = _export(tools, flt, fmt, output, metadata_only, "audit.export")
    click.echo(f"exported {manifest['row_count']} rows to {output} (manifest {output}.manifest.json)")


@audit.command("subject-access")
@click.argument("subject")
@click.option("--tenant", default=None)
@click.option("--format", "fmt", type=click.Choice(FILE_FORMATS), default="jsonl", show_default=True)
@click.option("--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
def audit_subject_access(subject: str, tenant: str | None, fmt: FileFormat, output: Path) -> None:
    """Every audit row about SUBJECT as one signed export (a data subject access request)."""
    from gateway.audit.export import ExportFilter  # noqa: PLC0415

    with audit_tools() as tools:
        flt = ExportFilter(subject=subject, tenant=tenant)
        manifest = _export(tools, flt, fmt, output, False, "audit.subject_access")
    click.echo(f"exported {manifest['row_count']} rows about {subject} to {output}")


@audit.command("verify-export")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--manifest", "manifest_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    "public_key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM public key or JWKS (from `gateway audit public-key` or GET /v1/audit/public-key)",
)
def audit_verify_export(path: Path, manifest_file: Path | None, public_key: Path | None) -> None:
    """Verify an export offline: signature, file hash, every row, count and ends. No database needed."""
    from gateway.audit.export import manifest_path  # noqa: PLC0415
    from gateway.audit.keys import Keyring, load_keyring  # noqa: PLC0415
    from gateway.audit.offline import load_manifest, verify_export  # noqa: PLC0415
    from gateway.settings import Settings  # noqa: PLC0415

    manifest_file = manifest_file or manifest_path(path)
    if not manifest_file.exists():
        raise click.BadParameter(f"no manifest at {manifest_file}: pass --manifest")
    keyring = Keyring.from_file(public_key) if public_key else load_keyring(Settings())
    if not keyring.key_ids:
        raise click.BadParameter("no public key: pass --public-key")
    report = verify_export(path, load_manifest(manifest_file), keyring)
    if not report.ok:
        click.echo(f"export FAILED verification ({report.rows} rows read):")
        for problem in report.problems:
            click.echo(f"  - {problem}")
        raise SystemExit(1)
    click.echo(
        f"export OK: {report.rows} rows, signature and file hash verified, "
        f"{report.anchors_matched} rows match signed anchors, {report.unverifiable_rows} rows verified by hash only"
    )


def _purge(tools: AuditTools, tenant: str, before: datetime) -> None:
    from gateway.audit.retention import purge_tenant  # noqa: PLC0415

    result = purge_tenant(tools.engine, tools.log, tools.store, tools.anchorer.signer, tenant, before)
    tools.record("audit.purge", {"tenant": tenant, "before": result.before, "rows": result.count}, tenant=tenant)
    click.echo(f"tenant {tenant}: emptied {result.count} rows older than {result.before}")


@audit.command("purge")
@click.option("--tenant", required=True)
@click.option("--before", default=None, help="empty rows before this time (ISO 8601)")
@click.option("--older-than", "days", type=click.IntRange(min=1), default=None, help="...or older than DAYS")
def audit_purge(tenant: str, before: str | None, days: int | None) -> None:
    """Empty TENANT's old rows under a signed retention checkpoint (the chain keeps verifying)."""
    if (before is None) == (days is None):
        raise click.BadParameter("give exactly one of --before or --older-than")
    cut = parse_time(before) if before else datetime.now(UTC) - timedelta(days=days or 0)
    assert cut is not None
    with audit_tools() as tools:
        _purge(tools, tenant, cut)


@audit.command("retention")
def audit_retention() -> None:
    """Apply GATEWAY_AUDIT_RETENTION_DAYS: purge each listed tenant's rows older than its limit."""
    with audit_tools() as tools:
        limits = tools.settings.audit.retention_days
        if not limits:
            console.print("no retention configured (GATEWAY_AUDIT_RETENTION_DAYS)")
        for tenant, days in sorted(limits.items()):
            _purge(tools, tenant, datetime.now(UTC) - timedelta(days=days))
