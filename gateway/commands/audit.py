"""``gateway audit``: verify, anchor, keys, exports, offline export verification, retention.

Only the database and the audit key are opened (no index, no embedder), so these commands start
fast and run beside a live gateway. ``verify-export`` opens neither: it needs the file, its
manifest and a public key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gateway.commands.operator import Operator, current_operator
from gateway.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from gateway.audit.anchors import Anchorer, AnchorStore
    from gateway.audit.keys import Keyring
    from gateway.audit.log import AuditLog

console = Console(stderr=True)


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic's message names the variable and the problem; no secrets in it
        console.print(f"[red]configuration error:[/red] {exc}")
        raise SystemExit(2) from None


def parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 date or date-time; naive means UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date or date-time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


@dataclass
class AuditTools:
    """What the audit commands work with: the log, the anchors, the key, the keyring."""

    settings: Settings
    log: AuditLog
    store: AnchorStore
    anchorer: Anchorer
    engine: Engine

    def keyring(self) -> Keyring:
        from gateway.audit.keys import load_keyring  # noqa: PLC0415

        return load_keyring(self.settings)

    def record(self, action: str, details: dict[str, Any], tenant: str = "*") -> None:
        """The command's own audit row (an export or purge is an audited action), then an anchor."""
        from gateway.audit.record import AuditRecord  # noqa: PLC0415
        from gateway.authz.service import PolicyService  # noqa: PLC0415
        from gateway.deps import MODEL_PATH  # noqa: PLC0415
        from gateway.observability import new_request_id  # noqa: PLC0415

        policy = PolicyService(self.engine, MODEL_PATH)
        policy.reload()
        operator = _operator()
        self.log.append(
            AuditRecord.of(
                operator.principal(tenant),
                request_id=new_request_id(),
                kind="admin",
                status="ok",
                policy_version=policy.version,
                action=action,
                details={**operator.details(), **details},
            )
        )
        self.anchorer.anchor_if_new("manual")


def _operator() -> Operator:
    """The operator ``gateway`` resolved (``--operator``, the real uid's account; never ``$USER``)."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return obj if isinstance(obj, Operator) else current_operator()


@contextmanager
def audit_tools() -> Iterator[AuditTools]:
    """Open the audit log, anchor store and signing key from the settings; dispose afterwards."""
    from gateway.audit.anchors import Anchorer, AnchorStore  # noqa: PLC0415
    from gateway.audit.keys import load_signer  # noqa: PLC0415
    from gateway.audit.log import AuditLog  # noqa: PLC0415
    from gateway.db import make_engine  # noqa: PLC0415

    settings = _settings()
    engine = make_engine(settings.resolved_database_url)
    log = AuditLog(engine)
    store = AnchorStore(engine, settings.audit.anchor_sink)
    cfg = settings.audit
    anchorer = Anchorer(
        log, store, load_signer(settings), every_rows=cfg.anchor_every_rows, every_seconds=cfg.anchor_every_seconds
    )
    try:
        yield AuditTools(settings, log, store, anchorer, engine)
    finally:
        engine.dispose()


def _rows_progress(label: str, total: int | None = None) -> Progress:
    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    if total is None:
        columns = [TextColumn(label), TextColumn("{task.completed} rows"), TimeElapsedColumn()]
    return Progress(*columns, console=console)


@click.group()
def audit() -> None:
    """Audit trail: verification, anchors, keys, exports, retention."""


@audit.command("verify")
@click.option("--from", "start", default=None, help="verify only rows from this time (ISO 8601)")
@click.option("--to", "end", default=None, help="...until before this time")
def audit_verify(start: str | None, end: str | None) -> None:
    """Check the chain against the signed anchors; exit 1 naming the first bad row.

    Truncation before the newest anchor, a recomputed chain and forged anchors fail; rows after the
    newest anchor are reported. With --from/--to only that slice is read, from the nearest anchor
    before it to the nearest after it.
    """
    from gateway.audit.anchored import verify_chain, verify_slice  # noqa: PLC0415

    with audit_tools() as tools, _rows_progress("verifying") as progress:
        task = progress.add_task("verify", total=None)
        report = lambda n: progress.update(task, completed=n)  # noqa: E731
        t0, t1 = parse_time(start), parse_time(end)
        if t0 or t1:
            result = verify_slice(tools.log, tools.store, tools.keyring(), t0, t1, progress=report)
        else:
            result = verify_chain(tools.log, tools.store, tools.keyring(), progress=report)
    if not result.ok:
        click.echo(f"audit chain BROKEN at sequence {result.first_bad_sequence}: {result.problem}")
        raise SystemExit(1)
    click.echo(
        f"audit chain OK: {result.rows_checked} rows, {result.anchors_checked} signed anchors, "
        f"newest anchor at {result.last_anchor_sequence}, {result.unanchored_rows} rows after it "
        f"(not yet anchored), {result.purged_rows} emptied by retention"
    )


@audit.command("anchor")
def audit_anchor() -> None:
    """Sign and store the current chain head now."""
    with audit_tools() as tools:
        anchor = tools.anchorer.anchor_now("manual")
    click.echo("the chain is empty" if anchor is None else f"anchored sequence {anchor.sequence} ({anchor.key_id})")


@audit.command("rotate-key")
def audit_rotate_key() -> None:
    """Retire the signing key (it keeps verifying old anchors) and start signing with a new one."""
    from gateway.audit.keys import load_signer, rotate_key  # noqa: PLC0415

    with audit_tools() as tools:
        old, new = rotate_key(tools.settings)
        tools.anchorer.signer = load_signer(tools.settings)
        tools.record("audit.rotate_key", {"old_key_id": old, "new_key_id": new})
    click.echo(f"retired {old}; now signing with {new}")


@audit.command("public-key")
def audit_public_key() -> None:
    """Print the trusted public keys (JWKS: current and retired) for verify-export elsewhere."""
    with audit_tools() as tools:
        click.echo(json.dumps(tools.keyring().jwks(), indent=2))
