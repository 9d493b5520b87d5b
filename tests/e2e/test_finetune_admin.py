"""``/v1/admin/finetune`` over HTTP: per-tenant activation and rollback, refusal of ungated adapters, audit rows.

The registry rows are written directly (training is tested in tests/finetune); what is under test
here is who may change which tenant's adapter, what is refused, and that each change or refusal
leaves exactly one audit row.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from gateway.deps import Services
from gateway.finetune.integrity import adapter_digest
from gateway.finetune.models import AdapterRow, DatasetRow
from gateway.finetune.registry import AdapterRegistry

TENANT = "northwind"
Auth = Callable[..., dict[str, str]]


def _weights(registry: AdapterRegistry, name: str, version: int) -> Path:
    """Adapter files to register (their digest is checked at activation): not a trained model, bytes."""
    folder = Path(str(registry.engine.url.database)).parent / "adapters" / name / f"v{version}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text('{"r": 8}')
    (folder / "adapter_model.safetensors").write_bytes(f"{name} v{version}".encode())
    return folder


def _add(registry: AdapterRegistry, tenant: str, name: str, version: int, status: str) -> int:
    folder = _weights(registry, name, version)
    with registry.engine.begin() as conn:
        registry.add_dataset(conn, DatasetRow(
            id=f"ds-{tenant}", tenant=tenant, path="/nowhere", sources=[], scrub_report={}, screen_report={},
            split={}, pii_digests=[], created_by="test",
        ))  # fmt: skip
        return registry.add_adapter(conn, AdapterRow(
            tenant=tenant, name=name, version=version, base="/base", path=str(folder),
            dataset_id=f"ds-{tenant}", params={}, canaries=[], metrics={}, gates={"passed": status == "passed"},
            status=status, created_by="test", digest=adapter_digest(folder),
        ))  # fmt: skip


@pytest.fixture
def registry(services: Services) -> AdapterRegistry:
    services.start()
    return AdapterRegistry(services.engine)


def _rows(services: Services, action: str, tenant: str = TENANT) -> list[dict[str, Any]]:
    return [r for r in services.audit.search(tenant=tenant, kind="admin", limit=100) if r["action"] == action]


def _activate(client: TestClient[Any], auth: Auth, name: str, **body: Any) -> Any:
    admin = auth("root", ["gateway-admins"])
    return client.post(f"/v1/admin/finetune/adapters/{name}/activate", json=body, headers=admin)


def test_activation_takes_effect_in_that_tenant_only_with_one_audit_row(
    client: TestClient[Any], auth: Auth, services: Services, registry: AdapterRegistry
) -> None:
    first = _add(registry, TENANT, "tone", 1, "passed")
    _add(registry, "contoso", "tone-contoso", 1, "passed")
    response = _activate(client, auth, "tone")
    assert response.status_code == 200, response.text
    assert response.json()["active"]["id"] == first
    ref = registry.active_adapter(TENANT)
    assert ref is not None and (ref.name, ref.version) == ("tone", 1) and ref.path.endswith("/adapters/tone/v1")
    assert ref.digest == adapter_digest(ref.path)  # what the generator checks before loading it
    assert registry.active_adapter("contoso") is None
    [row] = _rows(services, "finetune.activate")
    assert row["status"] == "ok" and row["details"]["adapter_id"] == first and row["subject"] == "root"
    listed = client.get("/v1/admin/finetune/adapters", headers=auth("root", ["gateway-admins"])).json()
    assert listed["active"] == first and [a["name"] for a in listed["adapters"]] == ["tone"]


@pytest.mark.parametrize("status", ["trained", "failed"])
def test_an_adapter_whose_gates_did_not_pass_is_refused(
    client: TestClient[Any], auth: Auth, services: Services, registry: AdapterRegistry, status: str
) -> None:
    _add(registry, TENANT, "risky", 1, status)
    response = _activate(client, auth, "risky")
    assert response.status_code == 409
    assert registry.active_adapter(TENANT) is None
    [row] = _rows(services, "finetune.activate")
    assert row["status"] == "refused" and row["details"]["reason"] == "gates_not_passed"


def test_another_tenants_adapter_is_absent(
    client: TestClient[Any], auth: Auth, services: Services, registry: AdapterRegistry
) -> None:
    _add(registry, "contoso", "theirs", 1, "passed")
    assert _activate(client, auth, "theirs").status_code == 404
    assert registry.active_adapter(TENANT) is None and registry.active_adapter("contoso") is None
    [row] = _rows(services, "finetune.activate")
    assert row["status"] == "refused" and row["details"]["reason"] == "absent"


def test_a_non_admin_cannot_activate_and_is_audited(
    client: TestClient[Any], auth: Auth, services: Services, registry: AdapterRegistry
) -> None:
    _add(registry, TENANT, "tone", 1, "passed")
    response = client.post("/v1/admin/finetune/adapters/tone/activate", json={}, headers=auth("alice", ["staff"]))
    assert response.status_code == 403
    assert registry.active_adapter(TENANT) is None
    [row] = _rows(services, "finetune.activate")
    assert row["status"] == "refused" and row["subject"] == "alice"


def test_rollback_returns_to_the_previous_adapter_then_the_base_model(
    client: TestClient[Any], auth: Auth, services: Services, registry: AdapterRegistry
) -> None:
    v1 = _add(registry, TENANT, "tone", 1, "passed")
    v2 = _add(registry, TENANT, "tone", 2, "passed")
    assert _activate(client, auth, "tone", version=1).status_code == 200
    assert _activate(client, auth, "tone").status_code == 200  # newest: v2
    assert registry.active_adapter(TENANT).version == 2  # type: ignore[union-attr]
    admin = auth("root", ["gateway-admins"])
    back = client.post("/v1/admin/finetune/rollback", headers=admin)
    assert back.status_code == 200 and back.json() == {"tenant": TENANT, "from": v2, "to": v1}
    assert registry.active_adapter(TENANT).version == 1  # type: ignore[union-attr]
    assert client.post("/v1/admin/finetune/rollback", headers=admin).json()["to"] is None
    assert registry.active_adapter(TENANT) is None
    assert client.post("/v1/admin/finetune/rollback", headers=admin).status_code == 404
    statuses = [r["status"] for r in _rows(services, "finetune.rollback")]
    assert statuses == ["refused", "ok", "ok"]  # newest first: one row per attempt
    assert len(_rows(services, "finetune.activate")) == 2


def test_an_adapter_whose_files_changed_after_gating_is_refused_and_audited(
    client: TestClient[Any], auth: Auth, services: Services, registry: AdapterRegistry
) -> None:
    _add(registry, TENANT, "tone", 1, "passed")
    (_weights(registry, "tone", 1) / "adapter_model.safetensors").write_bytes(b"other weights")
    response = _activate(client, auth, "tone")
    assert response.status_code == 409 and "changed since it was registered" in response.json()["detail"]
    assert registry.active_adapter(TENANT) is None
    [row] = _rows(services, "finetune.activate")
    assert (row["status"], row["details"]["reason"]) == ("refused", "integrity")
