"""The product side of the quality benchmark: a fresh gateway, ingest, ``/v1/search`` over HTTP.

The app is the real Litestar application driven by Litestar's ``TestClient`` (in-process ASGI, no
socket), with the development issuer and the real ``TransformersEmbedder``. Fusion variants are
separate ``Services`` built over the *same* retriever and embedder with different
``SearchSettings`` (what ``GATEWAY_SEARCH_FUSION`` / ``GATEWAY_SEARCH_LEXICAL_WEIGHT`` set).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from bench.quality_corpus import ManPage
from gateway.app import create_app
from gateway.auth.dev import mint_dev_token
from gateway.auth.principal import Principal
from gateway.deps import POLICY_DIR, Services, build_services
from gateway.ingest.documents import Submission
from gateway.ingest.trail import Context
from gateway.settings import SearchSettings, Settings

TENANT = "bench"
COLLECTION = "man"
READER_GROUP = "man-readers"
GRANT = f"p, group:{READER_GROUP}, {TENANT}, collection:{COLLECTION}, read, allow\n"


def make_settings(data_dir: Path, search: SearchSettings | None = None) -> Settings:
    """Development settings on a fresh data dir (SQLite + embedded index), dev issuer on."""
    return Settings(
        environment="development",
        data_dir=data_dir,
        dev_issuer=True,
        log_level="WARNING",
        search=search or SearchSettings(fusion="rrf"),
        oidc={"tenant_claim": "tenant"},
        embedding={"provider": "transformers"},
        limits={"enabled": False},  # thousands of queries from one subject: not a rate-limit test
    )


def start_services(data_dir: Path) -> Services:
    """Migrate, seed the policy plus the benchmark grant, open the index."""
    services = build_services(make_settings(data_dir))
    services.start()
    grant = data_dir / "bench-grant.csv"
    grant.write_text(GRANT, encoding="utf-8")
    services.policy.reload_seed(POLICY_DIR, actor="bench", extra_files=[grant])
    return services


def ingest(services: Services, pages: Sequence[ManPage]) -> tuple[float, int]:
    """Bulk ingest through the ingest flow, as the operator CLI runs it; (seconds, chunks)."""
    docs = [Submission(document_id=p.document_id, collection=COLLECTION, title=p.title, text=p.text) for p in pages]
    start = time.perf_counter()
    ctx = Context(Principal("cli:bench", TENANT), "bench-ingest")
    results = services.documents.put_many(ctx, docs, checked=False)
    return time.perf_counter() - start, sum(r.chunk_count for r in results)


@contextmanager
def search_client(base: Services, search: SearchSettings) -> Iterator[tuple[TestClient[Any], dict[str, str]]]:
    """An app whose fusion follows ``search``, sharing ``base``'s index and embedder."""
    services = build_services(
        make_settings(base.settings.data_dir, search), retriever=base.retriever, embedder=base.embedder
    )
    token = mint_dev_token(services.settings, "bench", [READER_GROUP], tenant=TENANT, ttl_seconds=3600)
    try:
        with TestClient(app=create_app(services=services)) as client:
            yield client, {"Authorization": f"Bearer {token}"}
    finally:
        # Not services.close(): that would close the shared retriever.
        services.policy.stop()
        services.engine.dispose()


def http_rankings(
    base: Services, search: SearchSettings, queries: Sequence[str], k: int = 10
) -> tuple[list[list[str]], float]:
    """Document ids ranked by ``POST /v1/search`` for each query; also mean seconds per request."""
    out: list[list[str]] = []
    with search_client(base, search) as (client, headers):
        start = time.perf_counter()
        for text in queries:
            response = client.post("/v1/search", json={"query": text, "k": k}, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"/v1/search answered {response.status_code}: {response.text[:200]}")
            out.append([hit["document_id"] for hit in response.json()["hits"]])
        elapsed = time.perf_counter() - start
    return out, elapsed / max(1, len(queries))
