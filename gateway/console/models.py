"""What the Models page needs from the fine-tuning registry (``gateway.finetune``, built separately).

The console depends on this small protocol only. Until the registry is wired in (``create_app``
sets ``app.state.model_catalog``), the page says the registry is not configured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class DatasetInfo:
    id: str
    name: str
    rows: int
    created_at: str


@dataclass(frozen=True)
class AdapterInfo:
    id: str
    base_model: str
    dataset_id: str
    gates: dict[str, bool] = field(default_factory=dict)
    """Gate name → passed (e.g. ``pii_leak``, ``quality``)."""
    active_tenants: tuple[str, ...] = ()


class ModelCatalog(Protocol):
    def datasets(self, tenant: str) -> list[DatasetInfo]: ...

    def adapters(self, tenant: str) -> list[AdapterInfo]: ...
