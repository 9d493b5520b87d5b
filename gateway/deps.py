"""The one place that picks implementations from settings and builds the service graph."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from gateway.audit.anchors import Anchorer, AnchorStore
from gateway.audit.keys import load_signer
from gateway.audit.log import AuditLog
from gateway.audit.record import AuditRecord
from gateway.auth.principal import Principal
from gateway.auth.verifier import TokenVerifier
from gateway.authz.service import PolicyService
from gateway.batching import MicroBatcher
from gateway.db import make_engine
from gateway.errors import Busy
from gateway.finetune.registry import AdapterRegistry
from gateway.finetune.scrub import PiiGuardScrubber, Scrubber
from gateway.generation.base import Generator
from gateway.generation.extractive import ExtractiveGenerator
from gateway.generation.model import AdapterResolver, ModelGenerator
from gateway.ingest.pii import PiiLabelStep
from gateway.ingest.poisoning import EmbeddingMemo, PoisoningStep, RetrieverNeighbours
from gateway.ingest.prepare import IngestLimits
from gateway.ingest.quarantine import QuarantineStore
from gateway.ingest.screen import ScreenStep
from gateway.ingest.service import DocumentService
from gateway.ingest.workers import IngestWorkers
from gateway.observability import Metrics, new_request_id
from gateway.pipeline import AnswerPipeline
from gateway.ratelimit import RequestLimiter
from gateway.retrieval.base import IndexInfo, Retriever
from gateway.retrieval.embed import Embedder, HashingEmbedder, TransformersEmbedder
from gateway.retrieval.query_embed import BatchingEmbedder, CachedEmbedder, query_embedder
from gateway.settings import Settings
from gateway.stages import Stages
from gateway.storage import secure_file, secure_tree
from guards.pii.engine import PiiEngine
from guards.pii.nlp import NlpStatus
from guards.pii.policy import PiiPolicy
from guards.poisoning.flood_store import SqlFloodStore
from guards.poisoning.learned import LinearHead
from guards.poisoning.policy import ScreeningPolicy
from guards.poisoning.rescreen import PassageRescreen
from guards.poisoning.screen import PoisonScreen, default_screen

log = logging.getLogger("gateway.deps")

REPO_ROOT = Path(__file__).resolve().parent.parent
POLICY_DIR = REPO_ROOT / "policies"
MODEL_PATH = POLICY_DIR / "model.conf"


def provide_embedder(settings: Settings) -> Embedder:
    if settings.embedding.provider == "hashing":
        log.warning("using the hashing embedder: for tests and benchmarks only")
        return HashingEmbedder(384)
    return TransformersEmbedder(settings.embedding)


def provide_retriever(settings: Settings, *, read_only: bool = False) -> Retriever:
    """The configured backend; ``read_only`` opens the embedded index without its writer lock,
    ``search.embedded_shared`` as one of several processes (``gateway serve --workers N``)."""
    if settings.search.backend == "opensearch":
        from gateway.retrieval.opensearch.retriever import OpenSearchRetriever  # noqa: PLC0415 - optional extra

        return OpenSearchRetriever(settings.opensearch, settings.search)
    from gateway.retrieval.embedded.retriever import EmbeddedRetriever  # noqa: PLC0415

    return EmbeddedRetriever(
        settings.index_dir,
        read_only=read_only,
        shared=settings.search.embedded_shared,
        poll_seconds=settings.search.embedded_poll_seconds,
    )


def provide_generator(settings: Settings, resolver: AdapterResolver | None = None) -> Generator:
    """The configured generator; ``resolver`` names each tenant's adapter (default: none, the base)."""
    cfg = settings.generation
    if settings.generator == "local" and cfg.model_dir is not None:
        from gateway.generation.local import LocalTextModel  # noqa: PLC0415 - loads torch/peft lazily

        local = LocalTextModel(
            cfg.model_dir, max_concurrency=cfg.max_concurrency, timeout_seconds=cfg.timeout_seconds,
            threads=cfg.threads, refusal_margin=cfg.refusal_margin,
        )  # fmt: skip
        return ModelGenerator(local, resolver, max_new_tokens=cfg.max_new_tokens, grounded=cfg.grounded)
    if settings.generator == "openai" and cfg.base_url:
        from gateway.generation.remote import OpenAITextModel  # noqa: PLC0415

        remote = OpenAITextModel(
            cfg.base_url, cfg.model or (cfg.model_dir.name if cfg.model_dir else "default"),
            api_key=cfg.api_key.get_secret_value() if cfg.api_key else None, timeout_seconds=cfg.timeout_seconds,
            retries=cfg.retries, max_concurrency=cfg.max_concurrency,
        )  # fmt: skip
        return ModelGenerator(remote, resolver, max_new_tokens=cfg.max_new_tokens, grounded=cfg.grounded)
    return ExtractiveGenerator()


def provide_limiter(settings: Settings, metrics: Metrics | None = None) -> RequestLimiter | None:
    """Per-subject and per-tenant limits; Redis-backed when a Redis URL is set. Every refusal, on
    any route, is counted in ``metrics`` (``gateway_rate_limited_total``)."""
    if not settings.limits.enabled:
        return None
    if metrics is None:
        return RequestLimiter(settings.limits)
    counter = metrics.rate_limited
    return RequestLimiter(settings.limits, on_limited=lambda scope: counter.labels(scope=scope).inc())


def provide_scrubber(settings: Settings) -> Scrubber:
    """The PII scrubber of fine-tuning datasets and of the PII-emission gate: the one PII engine."""
    return PiiGuardScrubber(provide_pii_engine(settings))


def provide_policy(settings: Settings, engine: Engine) -> PolicyService:
    return PolicyService(
        engine,
        MODEL_PATH,
        poll_seconds=settings.policy_poll_seconds,
        max_stale_seconds=settings.policy_max_stale_seconds,
        restricted_readers=provide_pii_policy(settings).ingest.readers,
    )


def provide_screening_policy(settings: Settings) -> ScreeningPolicy:
    path = settings.screening.policy_file
    return ScreeningPolicy.from_file(path) if path else ScreeningPolicy.default()


def provide_instruction_head(settings: Settings, embedder: Embedder | None) -> LinearHead | None:
    """The packaged learned head, when enabled and trained for this embedder's vectors."""
    if not settings.screening.learned_head or embedder is None:
        return None
    head = LinearHead.packaged()
    return head if head.fits(embedder.model_id, embedder.dimension) else None


def provide_poison_screen(
    settings: Settings, engine: Engine, retriever: Retriever | None, embedder: Embedder | None = None
) -> PoisonScreen:
    """Every poisoning detector; floods remembered in the database, neighbours from the index."""
    neighbours = RetrieverNeighbours(retriever) if retriever is not None else None
    policy, head = provide_screening_policy(settings), provide_instruction_head(settings, embedder)
    return default_screen(policy, flood_store=SqlFloodStore(engine), neighbours=neighbours, head=head)


def provide_screen_steps(
    settings: Settings, engine: Engine, *, retriever: Retriever | None = None, embedder: Embedder | None = None
) -> list[ScreenStep]:
    """The ingest screening steps, in order: the poisoning screen, then the PII labeller."""
    steps: list[ScreenStep] = []
    if settings.screening.enabled:
        passages = settings.screening.planted_passages
        shared = embedder if passages else None
        screen = provide_poison_screen(settings, engine, retriever, shared)
        steps.append(PoisoningStep(screen, embedder=shared, passages=passages))
    pii = provide_pii_engine(settings)
    if pii is not None:
        steps.append(PiiLabelStep(pii))
    return steps


def provide_pii_policy(settings: Settings) -> PiiPolicy:
    return PiiPolicy.from_file(settings.pii.policy_file or POLICY_DIR / "pii.toml")


@lru_cache(maxsize=4)
def _pii_engine(policy_json: str, ner: bool) -> PiiEngine:
    """One engine per policy and NER switch per process: the spaCy model loads once (~1.5 s)."""
    return PiiEngine(PiiPolicy.model_validate_json(policy_json), ner=ner, on_degraded=_log_degraded)


def _log_degraded(status: NlpStatus) -> None:
    log.warning("PII guard: NER unavailable (%s); answers are scrubbed by pattern recognizers only", status.reason)


def provide_pii_engine(settings: Settings, metrics: Metrics | None = None) -> PiiEngine | None:
    """The PII engine, or None when the guard is disabled; the degraded-NER gauge is set here."""
    if not settings.pii.enabled:
        return None
    engine = _pii_engine(provide_pii_policy(settings).model_dump_json(), settings.pii.ner)
    if metrics is not None:
        metrics.pii_ner_degraded.set(1 if engine.status.degraded else 0)
    return engine


def provide_batched_pii(
    settings: Settings, engine: PiiEngine | None
) -> tuple[PiiEngine | None, MicroBatcher[str, Any] | None]:
    """The answer pipeline's view of the PII engine: its spaCy passes micro-batched across concurrent
    requests (``GATEWAY_PII_BATCHING``), and the batcher, which ``Services.close`` stops."""
    if engine is None or not settings.pii.batching:
        return engine, None
    cfg = settings.pii
    batcher: MicroBatcher[str, Any] = MicroBatcher(
        engine.nlp_artifacts_many,
        name="pii-nlp",
        window_seconds=cfg.batch_window_ms / 1000,
        max_batch=cfg.batch_max,
        max_queue=cfg.queue_max,
        busy=Busy,
    )
    return engine.with_nlp(lambda text: batcher.run([text])[0]), batcher


def provide_ingest_limits(settings: Settings) -> IngestLimits:
    return IngestLimits(
        max_bytes=settings.max_document_bytes,
        max_chunks=settings.ingest.max_chunks,
        chunk_tokens=settings.chunking.max_tokens,
        overlap_tokens=settings.chunking.overlap_tokens,
    )


def provide_ingest_workers(settings: Settings) -> IngestWorkers:
    cfg = settings.ingest
    return IngestWorkers(
        workers=cfg.workers,
        parse_timeout=cfg.parse_timeout_seconds,
        inline_bytes=cfg.inline_bytes,
        queue_timeout=cfg.queue_timeout_seconds,
        slots=cfg.workers,
    )


def secure_storage(settings: Settings) -> None:
    """Data dir 0700, its files 0600; the default SQLite file created 0600 before first use."""
    secure_tree(settings.data_dir)
    if not settings.database_url:
        secure_file(settings.data_dir / "gateway.sqlite3")
    if settings.search.backend == "embedded":
        secure_file(settings.index_dir / "chunks.sqlite3")


def provide_anchorer(settings: Settings, engine: Engine, audit: AuditLog) -> Anchorer:
    """The anchorer, listening to ``audit``; its key is loaded (or generated) now, so a missing
    configured key stops the start instead of leaving the chain unanchored."""
    store = AnchorStore(engine, settings.audit.anchor_sink)
    anchorer = Anchorer(
        audit,
        store,
        load_signer(settings),
        every_rows=settings.audit.anchor_every_rows,
        every_seconds=settings.audit.anchor_every_seconds,
    )
    audit.add_listener(anchorer.appended)
    return anchorer


@dataclass
class Services:
    """Everything a request needs; built once per process by ``build_services``."""

    settings: Settings
    engine: Engine
    policy: PolicyService
    audit: AuditLog
    retriever: Retriever
    embedder: Embedder
    generator: Generator
    verifier: TokenVerifier
    documents: DocumentService
    pipeline: AnswerPipeline
    metrics: Metrics
    anchorer: Anchorer
    index_info: IndexInfo | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)
    """Run on close after the query embedder (the PII guard's batching thread)."""

    def start(self) -> None:
        """Migrate (when configured), load policy, open the index; refuse an embedder mismatch."""
        if self.settings.auto_migrate:
            from gateway.migrate import upgrade  # noqa: PLC0415 - alembic import is start-up only

            upgrade(self.settings.resolved_database_url)
        seed_policy_audited(self.policy, self.audit)
        self.policy.start()
        self.anchorer.start()
        self.index_info = self.retriever.ensure_index(self.embedder.model_id, self.embedder.dimension)

    def close(self) -> None:
        self.documents.shutdown()
        self.anchorer.stop()  # the shutdown anchor: signs the final head
        close_query_embedder = getattr(self.pipeline.embedder, "close", None)
        if callable(close_query_embedder):
            close_query_embedder()  # the batching thread serves what is queued, then stops
        for close in self.closers:
            close()
        self.policy.stop()
        self.retriever.close()
        self.pipeline.stages.close()
        self.engine.dispose()


def watch_query_embedder(metrics: Metrics, embedder: Embedder) -> None:
    """``gateway_query_embeddings``: the LRU's hits and misses and the batcher's forward passes."""
    cache = embedder if isinstance(embedder, CachedEmbedder) else None
    batcher = cache.inner if cache is not None else embedder
    if cache is not None:
        metrics.query_embeddings.labels(result="hit").set_function(lambda: cache.hits)
        metrics.query_embeddings.labels(result="miss").set_function(lambda: cache.misses)
    if isinstance(batcher, BatchingEmbedder):
        metrics.query_embeddings.labels(result="batch").set_function(lambda: batcher.batches)


SYSTEM = Principal(subject="system", tenant="*")
"""The subject of changes the gateway makes by itself (loading the seed into an empty store)."""


def seed_policy_audited(policy: PolicyService, audit: AuditLog) -> bool:
    """Load the seed into an empty store, with its audit row in the same transaction."""
    with audit.transaction() as tx:
        loaded = policy.load_seed_if_empty(POLICY_DIR, connection=tx.connection)
        if loaded:
            record = AuditRecord.of(
                SYSTEM, request_id=new_request_id(), kind="admin", status="ok", policy_version=-1,
                action="policy.seed", details={"source": "policies/*.csv"},
            )  # fmt: skip
            tx.append(record)
    if loaded:
        policy.refresh()
    return loaded


def build_services(
    settings: Settings, *, retriever: Retriever | None = None, embedder: Embedder | None = None
) -> Services:
    """Build the graph; ``retriever``/``embedder`` may be injected (tests, benchmarks)."""
    secure_storage(settings)
    bound = settings.stages.audit_timeout_seconds
    engine = make_engine(settings.resolved_database_url, lock_timeout_seconds=bound, statement_timeout_seconds=bound)
    metrics = Metrics()
    policy = provide_policy(settings, engine)
    audit = AuditLog(engine, max_batch=settings.audit.group_commit_max)
    retriever = retriever or provide_retriever(settings)
    embedder = embedder or provide_embedder(settings)
    generator = provide_generator(settings, AdapterRegistry(engine))  # each tenant's active adapter
    shared = EmbeddingMemo(embedder)  # the screen embeds passages, the indexer reuses the rows
    limiter = provide_limiter(settings, metrics)  # one limiter: both budgets, every route of this process
    documents = DocumentService(
        engine=engine,
        retriever=retriever,
        embedder=shared,
        policy=policy,
        audit=audit,
        limits=provide_ingest_limits(settings),
        workers=provide_ingest_workers(settings),
        steps=provide_screen_steps(settings, engine, retriever=retriever, embedder=shared),
        quarantine=QuarantineStore(engine),
        limiter=limiter,
    )
    pii, pii_batcher = provide_batched_pii(settings, provide_pii_engine(settings, metrics))
    pipeline = AnswerPipeline(
        policy=policy,
        retriever=retriever,
        embedder=query_embedder(embedder, settings.embedding),
        generator=generator,
        audit=audit,
        states=documents.registry,
        search=settings.search,
        metrics=metrics,
        max_question_chars=settings.max_question_chars,
        rescreen=PassageRescreen(settings.screening.rescreen_threshold),
        limiter=limiter,
        stages=Stages(settings.stages),
        pii=pii,
    )
    metrics.policy_age.set_function(lambda: policy.unconfirmed_seconds)
    watch_query_embedder(metrics, pipeline.embedder)
    return Services(
        settings=settings,
        engine=engine,
        policy=policy,
        audit=audit,
        retriever=retriever,
        embedder=embedder,
        generator=generator,
        verifier=TokenVerifier(settings),
        documents=documents,
        pipeline=pipeline,
        metrics=metrics,
        anchorer=provide_anchorer(settings, engine, audit),
        closers=[pii_batcher.close] if pii_batcher is not None else [],
    )
