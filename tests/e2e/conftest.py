"""The whole app over HTTP (Litestar's test client drives the real ASGI app), on real databases.

The sample corpus is ingested once per session into a template data dir; each test copies it, so
tests are independent and fast. The hashing embedder stands in for the transformer here (its
quality is not under test); one test in test_app_transformers.py uses the real model.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from gateway.app import create_app
from gateway.auth.dev import mint_dev_token
from gateway.auth.principal import Principal
from gateway.deps import Services, build_services
from gateway.ingest.loader import iter_submissions
from gateway.ingest.trail import Context
from gateway.settings import Settings

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample"
TENANT = "northwind"


def make_settings(data_dir: Path, database_url: str | None = None, **extra: Any) -> Settings:
    return Settings(
        environment="test",
        data_dir=data_dir,
        database_url=database_url,
        dev_issuer=True,
        force_dev_issuer=database_url is not None and database_url.startswith("postgresql"),
        policy_poll_seconds=0.2,
        policy_max_stale_seconds=1.5,
        **extra,
        oidc={"tenant_claim": "tenant"},  # type: ignore[arg-type]
        embedding={"provider": "hashing"},  # type: ignore[arg-type]
    )


def load_sample(services: Services) -> None:
    services.policy.reload_seed(REPO / "policies", actor="test", extra_files=[SAMPLE / "policy.csv"])
    ctx = Context(Principal("cli:test", TENANT), "load-sample")
    services.documents.put_many(ctx, list(iter_submissions(SAMPLE)), checked=False)


@pytest.fixture(scope="session")
def sample_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir (SQLite + embedded index) with migrations applied and the sample corpus ingested."""
    data_dir = tmp_path_factory.mktemp("sample-template")
    services = build_services(make_settings(data_dir))
    services.start()
    load_sample(services)
    services.close()
    return data_dir


@pytest.fixture
def data_dir(sample_template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(sample_template, target)
    return target


@pytest.fixture
def services(data_dir: Path) -> Iterator[Services]:
    svc = build_services(make_settings(data_dir))
    yield svc
    svc.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient[Any]]:
    app = create_app(services=services)
    with TestClient(app=app) as c:
        yield c


@pytest.fixture
def token_for(services: Services) -> Callable[..., str]:
    def mint(subject: str, groups: list[str], tenant: str = TENANT) -> str:
        return mint_dev_token(services.settings, subject, groups, tenant=tenant, ttl_seconds=600)

    return mint


@pytest.fixture
def auth(token_for: Callable[..., str]) -> Callable[..., dict[str, str]]:
    def headers(subject: str, groups: list[str], tenant: str = TENANT) -> dict[str, str]:
        return {"Authorization": f"Bearer {token_for(subject, groups, tenant)}"}

    return headers


@pytest.fixture(scope="session")
def personas() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((SAMPLE / "personas.json").read_text())["personas"]
    return data
