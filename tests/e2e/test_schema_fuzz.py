"""schemathesis against the app's own OpenAPI schema (``/schema/openapi.json``), in-process.

Every operation gets generated requests (valid and invalid bodies, parameters and paths) as a
platform administrator and auditor of the sample tenant; no answer may be a 5xx and every
documented answer must match its schema. The example count is bounded so the whole run stays
under a minute here; ``SCHEMA_FUZZ_EXAMPLES`` raises it for a longer soak.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from litestar.testing import TestClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from gateway.app import create_app
from gateway.auth.dev import mint_dev_token
from gateway.deps import Services, build_services
from tests.e2e.conftest import TENANT, make_settings

EXAMPLES = int(os.environ.get("SCHEMA_FUZZ_EXAMPLES", "8"))


@pytest.fixture(scope="module")
def gateway(sample_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Services, Any]]:
    data_dir = tmp_path_factory.mktemp("schema-fuzz") / "data"
    shutil.copytree(sample_template, data_dir)
    services = build_services(make_settings(data_dir, limits={"enabled": False}))
    with TestClient(app=create_app(services=services)) as client:
        yield services, client
    services.close()


@pytest.fixture(scope="module")
def admin_headers(gateway: tuple[Services, Any]) -> dict[str, str]:
    services, _ = gateway
    groups = ["gateway-admins", "gateway-auditors", "staff", "engineering"]
    return {"Authorization": f"Bearer {mint_dev_token(services.settings, 'root', groups, tenant=TENANT)}"}


def _document() -> dict[str, Any]:
    """The document ``/schema/openapi.json`` serves (built without starting any service)."""
    app = create_app(make_settings(Path("/nonexistent-schema-only")))
    return app.openapi_schema.to_schema()


schema = schemathesis.openapi.from_dict(_document())


def test_the_fuzzed_schema_is_the_one_served(gateway: tuple[Services, Any]) -> None:
    _, client = gateway
    assert client.get("/schema/openapi.json").json() == _document()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure here is reproducible, not flaky
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_5xx_or_off_schema(
    case: Any, gateway: tuple[Services, Any], admin_headers: dict[str, str]
) -> None:
    _, client = gateway
    kwargs = case.as_transport_kwargs(headers=admin_headers)
    kwargs.pop("url", None)
    response = client.request(url=case.formatted_path, **kwargs)
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance, content_type_conformance])
