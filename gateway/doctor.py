"""``gateway doctor``: check configuration and every dependency, in plain words."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import text

from gateway.settings import Settings


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str


def _run(name: str, fn: Callable[[], str]) -> Check:
    try:
        return Check(name, True, fn())
    except Exception as exc:  # doctor reports every failure; it never raises
        return Check(name, False, f"{type(exc).__name__}: {str(exc)[:300]}")


def run_checks(settings: Settings) -> Iterator[Check]:  # noqa: PLR0915 - one check per dependency, top to bottom
    """Yield one check per dependency, each independent of the others' success."""
    from gateway.db import make_engine  # noqa: PLC0415
    from gateway.deps import MODEL_PATH, provide_embedder, provide_retriever  # noqa: PLC0415

    def data_dir() -> str:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if not os.access(settings.data_dir, os.W_OK):
            raise PermissionError(f"{settings.data_dir} is not writable")
        return f"{settings.data_dir.resolve()} is writable"

    yield _run("data dir", data_dir)

    def issuer() -> str:
        if settings.dev_issuer:
            return "development issuer enabled (local use only; never in production)"
        if not settings.oidc.issuer:
            raise ValueError("no issuer: set GATEWAY_OIDC_ISSUER (or GATEWAY_DEV_ISSUER=true for local use)")
        from gateway.auth.verifier import TokenVerifier  # noqa: PLC0415

        async def probe() -> None:
            verifier = TokenVerifier(settings)
            try:
                await verifier.ready()
            finally:
                await verifier.aclose()

        asyncio.run(probe())
        return f"discovery and JWKS of {settings.oidc.issuer} loaded"

    yield _run("identity provider", issuer)

    engine = make_engine(settings.resolved_database_url)

    def database() -> str:
        from gateway.migrate import current, head  # noqa: PLC0415

        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        rev, want = current(settings.resolved_database_url), head()
        if rev != want:
            raise RuntimeError(f"schema at {rev}, code expects {want}: run `gateway migrate`")
        return f"{engine.dialect.name} reachable, schema at head ({want})"

    yield _run("database", database)

    def policy() -> str:
        from gateway.authz.service import PolicyService  # noqa: PLC0415

        service = PolicyService(engine, MODEL_PATH)
        service.reload()
        rules = service.list_rules()
        if not rules:
            raise RuntimeError("the policy store is empty: run `gateway migrate` or `gateway policy load`")
        return f"{len(rules)} rules loaded from the database"

    yield _run("policy", policy)

    def anchors() -> str:
        from gateway.audit.anchors import AnchorStore  # noqa: PLC0415
        from gateway.audit.keys import load_keyring, load_signer  # noqa: PLC0415
        from gateway.audit.log import AuditLog  # noqa: PLC0415

        signer = load_signer(settings, create=settings.audit.key_file is None)
        head, newest = AuditLog(engine).head(), AnchorStore(engine, settings.audit.anchor_sink).latest()
        if head is not None and newest is None:
            raise RuntimeError("the audit chain has no signed anchor: start the gateway or run `gateway audit anchor`")
        if newest is not None and not newest.verified_by(load_keyring(settings)):
            raise RuntimeError(f"the newest anchor (sequence {newest.sequence}) does not verify with a trusted key")
        behind = 0 if head is None or newest is None else head.sequence - newest.sequence
        where = "no rows yet" if newest is None else f"newest anchor at {newest.sequence} ({newest.anchored_at})"
        return f"signing key {signer.key_id}; {where}; {behind} rows not yet anchored"

    yield _run("audit anchors", anchors)

    def documents() -> str:
        from gateway.ingest.registry import DocumentRegistry  # noqa: PLC0415

        registry = DocumentRegistry(engine)
        interrupted = registry.interrupted()
        note = (
            ""
            if not interrupted
            else (
                f"; {len(interrupted)} with an interrupted write (intent row, no outcome; hidden until "
                f"written again): {', '.join(interrupted[:5])}{' ...' if len(interrupted) > 5 else ''}"
            )
        )
        return f"{registry.count_indexed()} documents searchable{note}"

    yield _run("documents", documents)

    holder: dict[str, tuple[str, int]] = {}

    def embedder() -> str:
        emb = provide_embedder(settings)
        vec = emb.embed(["doctor check"])
        holder["model"] = (emb.model_id, emb.dimension)
        return f"{emb.model_id} ({emb.dimension} dims) embeds; vector norm {float((vec[0] ** 2).sum()) ** 0.5:.2f}"

    yield _run("embedder", embedder)

    def index() -> str:
        retriever = provide_retriever(settings, read_only=True)  # works beside a running gateway
        try:
            retriever.ping()
            if "model" in holder:
                info = retriever.ensure_index(*holder["model"])
                return f"{settings.search.backend} index ready: {info.chunk_count} chunks, {info.embedding_model}"
            return f"{settings.search.backend} index reachable"
        finally:
            retriever.close()

    yield _run("search index", index)

    def pii() -> str:
        from gateway.deps import provide_pii_engine  # noqa: PLC0415 - loads spaCy: only when checked

        engine = provide_pii_engine(settings)
        if engine is None:
            return "disabled (GATEWAY_PII_ENABLED=false): answers are NOT scrubbed"
        if engine.status.degraded:
            raise RuntimeError(f"degraded to pattern recognizers: {engine.status.reason}")
        return f"{engine.status.model}; {len(engine.entities)} entity types; guard {engine.version}"

    yield _run("pii guard", pii)
    engine.dispose()
