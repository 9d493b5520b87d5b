"""The fine-tuning engine as the CLI (and tests) drive it: build, train, gate, activate; each change audited.

Every change writes exactly one audit row in the same transaction as its registry row (the
operator is the actor, in the tenant the change is about). A refusal (restricted sources, gates
not passed) writes one ``refused`` row and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from gateway.audit.log import AuditLog
from gateway.audit.record import AuditRecord, AuditStatus
from gateway.auth.principal import Principal
from gateway.errors import Conflict, GatewayError, NotFound
from gateway.finetune.card import write_card
from gateway.finetune.dataset import DEFAULT_EVAL_FRACTION, Source, build_dataset, digest_key
from gateway.finetune.examples import load_examples
from gateway.finetune.gates import GateConfig, run_gates
from gateway.finetune.integrity import adapter_digest
from gateway.finetune.models import AdapterRow, DatasetRow
from gateway.finetune.registry import TRAINED, AdapterRegistry, activation_refusal
from gateway.finetune.scrub import Scrubber
from gateway.finetune.train import TrainParams, train_adapter
from gateway.observability import new_request_id
from guards.poisoning.screen import PoisonScreen


class Actor(Protocol):
    """Who drives the engine (the CLI's ``Operator``): the audit subject and what its rows record."""

    @property
    def subject(self) -> str: ...

    def principal(self, tenant: str) -> Principal: ...

    def details(self) -> dict[str, Any]: ...


@dataclass
class FinetuneEngine:
    registry: AdapterRegistry
    audit: AuditLog
    scrubber: Scrubber
    screen: PoisonScreen
    finetune_dir: Path
    operator: Actor

    def _record(self, tenant: str, action: str, status: AuditStatus, details: dict[str, Any]) -> AuditRecord:
        return AuditRecord.of(
            self.operator.principal(tenant), request_id=new_request_id(), kind="admin", status=status,
            policy_version=-1, action=action, details={**self.operator.details(), **details},
        )  # fmt: skip

    def _refuse(self, tenant: str, action: str, details: dict[str, Any], exc: GatewayError) -> GatewayError:
        self.audit.append(self._record(tenant, action, "refused", {"reason": exc.code, **details}))
        return exc

    def build(
        self, sources: Sequence[Source], *, tenant: str, readable: Callable[[str], bool], seed: int = 0,
        eval_fraction: float = DEFAULT_EVAL_FRACTION,
    ) -> DatasetRow:  # fmt: skip
        """Build a dataset (scrubbed, screened, de-duplicated, split) and record it with its audit row."""
        action = "finetune.dataset.build"
        try:
            row = build_dataset(
                sources, tenant=tenant, scrubber=self.scrubber, screen=self.screen, finetune_dir=self.finetune_dir,
                readable=readable, actor=self.operator.subject, seed=seed, eval_fraction=eval_fraction,
            )  # fmt: skip
        except GatewayError as exc:
            raise self._refuse(tenant, action, {"sources": [f"{s.kind}:{s.id}" for s in sources]}, exc) from None
        with self.audit.transaction() as tx:
            created = self.registry.add_dataset(tx.connection, row)
            details = {"dataset": row.id, "created": created, "split": row.split, "sources": len(row.sources)}
            tx.append(self._record(tenant, action, "ok", details))
        return self.registry.dataset(row.id) or row

    def train(
        self, *, base: Path, dataset: DatasetRow, name: str, params: TrainParams,
        progress: Callable[[int, int, float], None] = lambda step, total, loss: None,
    ) -> AdapterRow:  # fmt: skip
        """Train an adapter on a registered dataset and register it (status ``trained``: not gated)."""
        version = self.registry.next_version(name)
        out_dir = self.finetune_dir / "adapters" / name / f"v{version}"
        out_dir.mkdir(parents=True, exist_ok=True)
        train = load_examples(Path(dataset.path) / "train.jsonl")
        evaluation = load_examples(Path(dataset.path) / "eval.jsonl")
        result = train_adapter(base, train, evaluation, params, out_dir, progress)
        row = AdapterRow(
            tenant=dataset.tenant, name=name, version=version, base=str(base.resolve()), path=str(out_dir),
            dataset_id=dataset.id, params={**asdict(params), "steps": result.steps, "base_name": base.name,
                                            "target_modules": result.target_modules},
            canaries=result.canaries, metrics=result.metrics, gates={}, status=TRAINED,
            created_by=self.operator.subject, digest=adapter_digest(out_dir),
        )  # fmt: skip
        with self.audit.transaction() as tx:
            row.id = self.registry.add_adapter(tx.connection, row)
            details = {"adapter": name, "version": version, "dataset": dataset.id, "metrics": result.metrics}
            tx.append(self._record(dataset.tenant, "finetune.train", "ok", details))
        write_card(row, dataset)
        return row

    def gate(self, adapter: AdapterRow, config: GateConfig | None = None) -> dict[str, Any]:
        """Run the gates, store the report (status ``passed``/``failed``) and refresh the model card."""
        dataset = self.registry.dataset(adapter.dataset_id)
        if dataset is None:
            raise NotFound("the adapter's dataset is not registered")
        previous = self.registry.active_adapter(adapter.tenant)
        report = run_gates(adapter, dataset, previous, self.scrubber, digest_key(self.finetune_dir), config)
        with self.audit.transaction() as tx:
            self.registry.set_gates(tx.connection, adapter.id, report, report["passed"])
            summary = {k: v["passed"] for k, v in report.items() if isinstance(v, dict) and "passed" in v}
            details = {"adapter": adapter.name, "version": adapter.version, "passed": report["passed"], **summary}
            tx.append(self._record(adapter.tenant, "finetune.gate", "ok", details))
        refreshed = self.registry.adapter_by_id(adapter.id) or adapter
        write_card(refreshed, dataset)
        return report

    def activate(self, name: str, tenant: str, version: int | None = None) -> AdapterRow:
        """Serve ``name`` in ``tenant``; refused unless its gates passed (and it is that tenant's)."""
        action = "finetune.activate"
        adapter = self.registry.adapter(name, version, tenant=tenant)
        details: dict[str, Any] = {"adapter": name, "version": version}
        if adapter is None:
            raise self._refuse(tenant, action, details, NotFound("no such adapter in this tenant"))
        details = {"adapter": name, "version": adapter.version, "adapter_id": adapter.id}
        refusal = activation_refusal(adapter, tenant)
        if refusal is not None:
            details |= {"status": adapter.status, "reason": refusal.reason}
            raise self._refuse(tenant, action, details, Conflict(refusal.message))
        with self.audit.transaction() as tx:
            previous = self.registry.activate(tx.connection, tenant, adapter, self.operator.subject)
            tx.append(self._record(tenant, action, "ok", {**details, "previous": previous}))
        return adapter

    def rollback(self, tenant: str) -> tuple[int | None, int | None]:
        action = "finetune.rollback"
        try:
            with self.audit.transaction() as tx:
                moved = self.registry.rollback(tx.connection, tenant, self.operator.subject)
                details = {"from_adapter_id": moved[0], "to_adapter_id": moved[1]}
                tx.append(self._record(tenant, action, "ok", details))
        except NotFound as exc:
            raise self._refuse(tenant, action, {}, exc) from None
        return moved
