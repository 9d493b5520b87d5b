"""``/v1/ask`` with ``GATEWAY_GENERATOR=local``: the tiny model in process, an adapter per tenant."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from gateway.app import create_app
from gateway.deps import Services, build_services
from gateway.generation.model import AdapterInfo, AdapterRef, ModelGenerator
from tests.e2e.conftest import TENANT, make_settings

Auth = Callable[..., dict[str, str]]


class TenantAdapters:
    """A resolver over a table (the finetune registry is wired the same way at merge)."""

    def __init__(self, table: dict[str, AdapterRef]) -> None:
        self.table = table

    def active_adapter(self, tenant: str) -> AdapterInfo | None:
        return self.table.get(tenant)


@pytest.fixture
def services(data_dir: Path, tiny_dir: Path) -> Iterator[Services]:
    generation = {"model_dir": str(tiny_dir), "max_new_tokens": 6, "timeout_seconds": 60}
    svc = build_services(make_settings(data_dir, generator="local", generation=generation))
    yield svc
    svc.close()


def test_the_local_generator_is_chosen_by_settings_and_the_row_names_model_and_adapter(
    services: Services, tiny_adapters: dict[str, AdapterRef], auth: Auth, tiny_dir: Path
) -> None:
    assert isinstance(services.generator, ModelGenerator) and services.generator.name == "local-v1"
    with TestClient(app=create_app(services=services)) as client:
        question = {"question": "How does the on-call rotation work?"}
        plain = client.post("/v1/ask", json=question, headers=auth("alice", ["engineering"]))
        services.generator.resolver = TenantAdapters({TENANT: tiny_adapters["acme"]})
        tuned = client.post("/v1/ask", json=question, headers=auth("alice", ["engineering"]))
    assert plain.status_code == tuned.status_code == 200
    rows = services.audit.search(tenant=TENANT, limit=2, kind="ask")
    generation = [r["details"]["generation"] for r in reversed(rows)]
    assert [(g["base_model"], g["adapter"], g["adapter_version"]) for g in generation] == [
        (tiny_dir.name, None, None),
        (tiny_dir.name, "acme-tone", 1),
    ]
