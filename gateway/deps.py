"""The one place that picks implementations from settings and builds the service graph."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from gateway.audit.anchors import Anchorer, AnchorStore
from gateway.audit.keys import load_signer
from gateway.audit.log import AuditLog
from gateway.auth.verifier import TokenVerifier
from gateway.authz.service import PolicyService
from gateway.db import make_engine
from gateway.generation.base import Generator
from gateway.generation.extractive import ExtractiveGenerator
from gateway.ingest.service import DocumentService
from gateway.observability import Metrics
from gateway.pipeline import AnswerPipeline
from gateway.retrieval.base import IndexInfo, Retriever
from gateway.retrieval.embed import Embedder, HashingEmbedder, TransformersEmbedder
from gateway.settings import Settings

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
    """The configured backend; ``read_only`` opens the embedded index without its writer lock."""
    if settings.search.backend == "opensearch":
        from gateway.retrieval.opensearch.retriever import OpenSearchRetriever  # noqa: PLC0415 - optional extra

        return OpenSearchRetriever(settings.opensearch, settings.search)
    from gateway.retrieval.embedded.retriever import EmbeddedRetriever  # noqa: PLC0415

    return EmbeddedRetriever(settings.index_dir, read_only=read_only)


def provide_generator(_settings: Settings) -> Generator:
    return ExtractiveGenerator()


def provide_policy(settings: Settings, engine: Engine) -> PolicyService:
    return PolicyService(engine, MODEL_PATH, poll_seconds=settings.policy_poll_seconds)


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

    def start(self) -> None:
        """Migrate (when configured), load policy, open the index; refuse an embedder mismatch."""
        if self.settings.auto_migrate:
            from gateway.migrate import upgrade  # noqa: PLC0415 - alembic import is start-up only

            upgrade(self.settings.resolved_database_url)
        self.policy.load_seed_if_empty(POLICY_DIR)
        self.policy.start()
        self.anchorer.start()
        self.index_info = self.retriever.ensure_index(self.embedder.model_id, self.embedder.dimension)

    def close(self) -> None:
        self.anchorer.stop()  # the shutdown anchor: signs the final head
        self.policy.stop()
        self.retriever.close()
        self.engine.dispose()


def build_services(
    settings: Settings, *, retriever: Retriever | None = None, embedder: Embedder | None = None
) -> Services:
    """Build the graph; ``retriever``/``embedder`` may be injected (tests, benchmarks)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    metrics = Metrics()
    policy = provide_policy(settings, engine)
    audit = AuditLog(engine)
    retriever = retriever or provide_retriever(settings)
    embedder = embedder or provide_embedder(settings)
    generator = provide_generator(settings)
    documents = DocumentService(
        engine=engine, retriever=retriever, embedder=embedder, policy=policy, chunking=settings.chunking
    )
    pipeline = AnswerPipeline(
        policy=policy,
        retriever=retriever,
        embedder=embedder,
        generator=generator,
        audit=audit,
        search=settings.search,
        metrics=metrics,
    )
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
    )
