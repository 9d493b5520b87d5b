"""The ``gateway`` command: serve, migrate, doctor, token, policy, audit (gateway/commands), ingest, opensearch."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gateway.commands import audit_export  # noqa: F401 - registers export, verify-export, retention
from gateway.commands.audit import audit
from gateway.commands.generation import eval_command, generation
from gateway.commands.operator import Operator
from gateway.errors import GatewayError
from gateway.settings import Settings

console = Console(stderr=True)


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic's message names the variable and the problem; no secrets in it
        console.print(f"[red]configuration error:[/red] {exc}")
        raise SystemExit(2) from None


@click.group()
@click.option(
    "--operator",
    default=None,
    help="who is behind this command (a person or ticket); audited beside the OS account, as a claim",
)
@click.pass_context
def main(ctx: click.Context, operator: str | None) -> None:
    """Security-focused gateway: SSO, permission-aware retrieval, tamper-evident audit."""
    from gateway.commands.operator import current_operator  # noqa: PLC0415

    ctx.obj = current_operator(operator)
    # The data dir holds document text and the audit trail: whatever this process creates is private.
    os.umask(0o077)
    # One BLAS thread per process: under concurrent requests a second OpenBLAS thread stalls the
    # vector scan (bench: p95 96 -> 18 ms at 100k chunks on a loaded machine). Set before numpy loads.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=0),
    help="worker processes (0: one per CPU core); several share the embedded index",
)
def serve(host: str, port: int, workers: int) -> None:
    """Run the HTTP service (uvicorn)."""
    import uvicorn  # noqa: PLC0415

    workers = workers or os.cpu_count() or 1
    settings = _settings()
    if workers > 1:
        settings = _prepare_workers(settings, workers)
    options: dict[str, Any] = {
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        "log_config": None,
        "access_log": False,
        # SIGTERM: stop accepting, give in-flight requests this long, then shut down (parse workers
        # are killed in the lifespan's shutdown, so a long parse cannot hold the process).
        "timeout_graceful_shutdown": max(1, int(settings.shutdown_grace_seconds)),
    }
    if workers == 1:
        uvicorn.run("gateway.app:create_app", **options)
        return
    from gateway.supervisor import BalancedMultiprocess, reuseport_listeners  # noqa: PLC0415

    listeners = reuseport_listeners(host, port, workers)
    if listeners is None:  # no SO_REUSEPORT here: one shared listener, uvicorn's own supervisor
        from uvicorn.supervisors import Multiprocess  # noqa: PLC0415

        listener = tcp_listener(host, port)
        console.print(f"gateway: {workers} workers on http://{host}:{listener.getsockname()[1]} (one shared listener)")
        Multiprocess(uvicorn.Config("gateway.app:create_app", **options), sockets=[listener]).run()
        return
    console.print(f"gateway: {workers} workers on http://{host}:{listeners[0].getsockname()[1]}")
    BalancedMultiprocess(uvicorn.Config("gateway.app:create_app", **options), listeners).run()


def tcp_listener(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """The listening socket the workers share, created with ``proto=IPPROTO_TCP``.

    uvicorn's own (``Config.bind_socket``) leaves ``proto`` 0; accepted sockets inherit it, and
    asyncio then skips ``TCP_NODELAY`` (uvicorn issue 3149), so with ``--workers N`` every
    keep-alive response waited for the client's delayed ACK: a sequential ``/v1/ask`` took 104 ms
    against 54 ms with one worker (``bench.http``, 2026-11-30, docs/benchmarks.md).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        console.print(f"[red]cannot listen on {host}:{port}: {exc.strerror}[/red]")
        raise SystemExit(3) from None
    sock.set_inheritable(True)
    return sock


def _prepare_workers(settings: Settings, workers: int) -> Settings:
    """Before uvicorn spawns ``workers`` processes: what they share is set up once, here.

    Each worker re-reads the settings from the environment, so what they must agree on goes
    there: the embedded index opened shared, no schema migration racing in every worker (it
    runs once in this process), and one torch/BLAS thread per worker (the work of a request
    holds the GIL, so processes -- not threads -- are what use the cores; docs/benchmarks.md).
    """
    if settings.console.enabled and settings.console.session_store == "memory":
        console.print("[red]console sessions in memory are per process: use the file or redis store[/red]")
        raise SystemExit(2)
    if settings.limits.enabled and settings.limits.redis_url is None:
        console.print(
            f"[yellow]rate limits are counted per worker without GATEWAY_LIMITS_REDIS_URL: "
            f"up to {workers}x the configured rates[/yellow]"
        )
    if settings.auto_migrate:
        _migrate_and_seed(settings)
        os.environ["GATEWAY_AUTO_MIGRATE"] = "false"
    if settings.search.backend == "embedded":
        os.environ["GATEWAY_SEARCH_EMBEDDED_SHARED"] = "true"
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    return _settings()


def _migrate_and_seed(settings: Settings) -> str:
    """Upgrade the schema and load the seed policy into an empty store (``migrate``, ``serve``)."""
    from gateway.audit.log import AuditLog  # noqa: PLC0415
    from gateway.authz.service import PolicyService  # noqa: PLC0415
    from gateway.db import make_engine  # noqa: PLC0415
    from gateway.deps import MODEL_PATH, secure_storage, seed_policy_audited  # noqa: PLC0415
    from gateway.migrate import upgrade  # noqa: PLC0415

    secure_storage(settings)
    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    try:
        loaded = seed_policy_audited(PolicyService(engine, MODEL_PATH), AuditLog(engine))
    finally:
        engine.dispose()
    return "schema at head" + ("; seed policy loaded" if loaded else "; policy store already populated")


@main.command()
def migrate() -> None:
    """Upgrade the database schema to the latest version and load the seed policy if the store is empty."""
    console.print(_migrate_and_seed(_settings()))


@main.command()
@click.option("--sub", "subject", required=True, help="subject (user id)")
@click.option("--groups", default="", help="comma-separated groups")
@click.option("--tenant", default=None)
@click.option("--ttl", default="1h", show_default=True, help="lifetime: 90s, 30m, 1h, 1d")
def token(subject: str, groups: str, tenant: str | None, ttl: str) -> None:
    """Mint a development token (trusted only with GATEWAY_DEV_ISSUER=true). Prints it as the last line."""
    from gateway.auth.dev import mint_dev_token  # noqa: PLC0415

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    seconds = _parse_ttl(ttl)
    group_list = [g.strip() for g in groups.split(",") if g.strip()]
    try:
        jwt = mint_dev_token(settings, subject, group_list, tenant=tenant, ttl_seconds=seconds)
    except ValueError as exc:  # what the verifier would refuse (e.g. no --tenant with a tenant claim set)
        console.print(f"[red]{exc}[/red]")
        raise SystemExit(2) from None
    if not settings.dev_issuer:
        console.print("[yellow]note: GATEWAY_DEV_ISSUER is not true here; the gateway will refuse this token[/yellow]")
    click.echo(jwt)


def _parse_ttl(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    try:
        value = int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)
    except (ValueError, IndexError):
        raise click.BadParameter("use a number with s, m, h or d") from None
    if not 0 < value <= 30 * 86400:
        raise click.BadParameter("ttl must be between 1 second and 30 days")
    return value


@main.group()
def policy() -> None:
    """Policy store commands."""


@policy.command("load")
@click.option(
    "--file",
    "extra",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="additional policy CSV files (e.g. data/sample/policy.csv)",
)
@click.pass_obj
def policy_load(operator: Operator, extra: tuple[Path, ...]) -> None:
    """Replace every rule with the seed policy (policies/*.csv) plus the given files; audited.

    The replacement and its audit rows (one per tenant whose rules change, and one for ``*``)
    commit in one transaction: if the audit store refuses, no rule changes.
    """
    from gateway.commands.policy import load_policy  # noqa: PLC0415

    settings = _settings()
    try:
        rules, version = load_policy(settings, operator, list(extra))
    except GatewayError as exc:
        console.print(f"[red]policy not loaded: {exc.detail}[/red]")
        raise SystemExit(1) from None
    console.print(f"policy loaded: {rules} rules, version {version}")


@main.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--tenant", default="default", show_default=True)
@click.option("--collection", default=None, help="collection for files without a manifest entry")
@click.option("--allow", multiple=True, help="ACL allow principal for files without a manifest entry")
@click.option("--deny", multiple=True, help="ACL deny principal for files without a manifest entry")
@click.pass_obj
def ingest(
    operator: Operator, path: Path, tenant: str, collection: str | None, allow: tuple[str, ...], deny: tuple[str, ...]
) -> None:
    """Ingest a folder (txt, md, html, pdf; *.jsonl manifests) or a JSONL file, with progress and a summary.

    The same flow as ``POST /v1/documents`` (bounded parsing, screening, intent and outcome audit
    rows), run as the operator (``cli:<os-account>``) without a permission check.
    """
    from gateway.deps import build_services  # noqa: PLC0415
    from gateway.ingest.documents import IngestResult, Submission  # noqa: PLC0415
    from gateway.ingest.loader import iter_submissions  # noqa: PLC0415
    from gateway.ingest.trail import Context  # noqa: PLC0415
    from gateway.observability import new_request_id, request_id_var  # noqa: PLC0415

    settings = _settings()
    services = build_services(settings)
    services.start()
    submissions = list(iter_submissions(path, collection=collection, allow=allow, deny=deny))
    counts = {"indexed": 0, "unchanged": 0, "quarantined": 0, "failed": 0, "chunks": 0}
    columns = (
        TextColumn("ingest"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[chunks]} chunks"),
    )
    request_id_var.set(new_request_id())
    ctx = Context(operator.principal(tenant), request_id_var.get(), operator.details())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("ingest", total=len(submissions), chunks=0)

        def advance(result: IngestResult) -> None:
            state = result.status if result.status == "quarantined" else "indexed" if result.created else "unchanged"
            counts[state] += 1
            counts["chunks"] += result.chunk_count if result.created else 0
            progress.update(task, advance=1, chunks=counts["chunks"])

        def refused(submission: Submission, exc: GatewayError) -> None:
            counts["failed"] += 1
            progress.update(task, advance=1)
            console.print(f"[yellow]{submission.document_id}: {exc.detail}[/yellow]")

        try:
            services.documents.put_many(ctx, submissions, checked=False, progress=advance, on_refused=refused)
        except GatewayError as exc:
            counts["failed"] = len(submissions) - counts["indexed"] - counts["unchanged"] - counts["quarantined"]
            console.print(f"[red]ingest stopped: {exc.detail}[/red]")
    services.close()
    click.echo(
        f"ingested into tenant '{tenant}': {counts['indexed']} indexed ({counts['chunks']} chunks), "
        f"{counts['unchanged']} unchanged, {counts['quarantined']} quarantined, {counts['failed']} failed"
    )
    if counts["failed"]:
        raise SystemExit(1)


@main.command()
def doctor() -> None:
    """Check configuration and every dependency; say what is wrong in plain words."""
    from gateway.doctor import run_checks  # noqa: PLC0415

    settings = _settings()
    ok = True
    for check in run_checks(settings):
        mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]"
        console.print(f"{mark} {check.name}: {check.message}")
        ok = ok and check.ok
    raise SystemExit(0 if ok else 1)


@main.group()
def opensearch() -> None:
    """OpenSearch index management (GATEWAY_SEARCH_BACKEND=opensearch)."""


@opensearch.command("init")
def opensearch_init_cmd() -> None:
    """Create the index template, the versioned index behind its alias, and the search pipelines."""
    from gateway.deps import provide_embedder  # noqa: PLC0415
    from gateway.retrieval.opensearch.admin import opensearch_init  # noqa: PLC0415

    settings = _settings()
    embedder = provide_embedder(settings)
    click.echo(opensearch_init(settings, embedder.model_id, embedder.dimension))


@opensearch.command("reindex")
def opensearch_reindex_cmd() -> None:
    """Build a new index version, copy the chunks, and swap the alias with no downtime."""
    from gateway.retrieval.opensearch.admin import opensearch_reindex  # noqa: PLC0415

    click.echo(opensearch_reindex(_settings()))


main.add_command(audit)
main.add_command(generation)


def _add_screen_group() -> None:
    from gateway.commands.screen import screen  # noqa: PLC0415 - its imports are heavy; the group is light

    main.add_command(screen)


_add_screen_group()


def _add_finetune_groups() -> None:
    from gateway.commands.finetune import finetune, model  # noqa: PLC0415 - torch loads only when a command runs

    main.add_command(finetune)
    main.add_command(model)
    finetune.add_command(eval_command, "eval")  # the name; also `gateway generation eval`


_add_finetune_groups()


def _add_dataset_group() -> None:
    from gateway.commands.dataset import dataset  # noqa: PLC0415 - loads presidio; the group is light

    main.add_command(dataset)


_add_dataset_group()


if __name__ == "__main__":  # pragma: no cover
    main()
