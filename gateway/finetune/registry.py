"""The adapter registry: datasets, adapters and which adapter each tenant serves.

The generator reads one thing from here, :meth:`AdapterRegistry.active_adapter`. Changes of a
tenant's active adapter run on a connection the caller passes in, so that the change and its audit
row commit in one transaction (``AuditLog.transaction``, see ``gateway/admin/finetune.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table, func, insert, select, update
from sqlalchemy.orm import Session

from gateway.db import Base
from gateway.errors import Conflict, NotFound
from gateway.finetune.integrity import AdapterIntegrityError, verify_adapter
from gateway.finetune.models import ActivationRow, AdapterRow, DatasetRow

T = TypeVar("T")
PASSED = "passed"
FAILED = "failed"
TRAINED = "trained"


@dataclass(frozen=True)
class AdapterRef:
    """What a generator needs to load an adapter on top of its base model."""

    name: str
    version: int
    path: str
    base: str
    id: int = 0
    digest: str | None = None
    """What the weight files must hash to (``gateway.finetune.integrity``); checked before loading."""


def ref_of(row: AdapterRow) -> AdapterRef:
    return AdapterRef(
        name=row.name, version=row.version, path=row.path, base=row.base, id=row.id, digest=row.digest or ""
    )


class AdapterRegistry:
    """SQL-backed registry (any engine the gateway supports)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _query(self, fn: Callable[[Session], T]) -> T:
        with Session(self.engine, expire_on_commit=False) as session:
            return fn(session)

    # -- datasets -------------------------------------------------------------------------------
    def add_dataset(self, conn: Connection, row: DatasetRow) -> bool:
        """Record a dataset on ``conn`` (the caller's transaction); False if these examples exist already."""
        if conn.execute(select(DatasetRow.id).where(DatasetRow.id == row.id)).first() is not None:
            return False
        _insert(conn, row)
        return True

    def dataset(self, dataset_id: str) -> DatasetRow | None:
        return self._query(lambda s: s.get(DatasetRow, dataset_id))

    def datasets(self, tenant: str) -> list[DatasetRow]:
        stmt = select(DatasetRow).where(DatasetRow.tenant == tenant).order_by(DatasetRow.created_at.desc())
        return self._query(lambda s: list(s.execute(stmt).scalars()))

    # -- adapters -------------------------------------------------------------------------------
    def next_version(self, name: str) -> int:
        stmt = select(func.max(AdapterRow.version)).where(AdapterRow.name == name)
        return int(self._query(lambda s: s.execute(stmt).scalar()) or 0) + 1

    def add_adapter(self, conn: Connection, row: AdapterRow) -> int:
        """Record an adapter on ``conn`` (the caller's transaction); returns its id."""
        return int(_insert(conn, row).inserted_primary_key[0])

    def adapter(self, name: str, version: int | None = None, *, tenant: str | None = None) -> AdapterRow | None:
        """The given version of ``name`` (default: the newest), optionally only within ``tenant``."""
        stmt = select(AdapterRow).where(AdapterRow.name == name)
        if version is not None:
            stmt = stmt.where(AdapterRow.version == version)
        if tenant is not None:
            stmt = stmt.where(AdapterRow.tenant == tenant)
        stmt = stmt.order_by(AdapterRow.version.desc()).limit(1)
        return self._query(lambda s: s.execute(stmt).scalars().first())

    def adapter_by_id(self, adapter_id: int) -> AdapterRow | None:
        return self._query(lambda s: s.get(AdapterRow, adapter_id))

    def adapters(self, tenant: str) -> list[AdapterRow]:
        stmt = select(AdapterRow).where(AdapterRow.tenant == tenant).order_by(AdapterRow.name, AdapterRow.version)
        return self._query(lambda s: list(s.execute(stmt).scalars()))

    def set_gates(self, conn: Connection, adapter_id: int, gates: dict[str, Any], passed: bool) -> None:
        status = PASSED if passed else FAILED
        conn.execute(update(AdapterRow).where(AdapterRow.id == adapter_id).values(gates=gates, status=status))

    # -- activations ----------------------------------------------------------------------------
    def active_adapter(self, tenant: str) -> AdapterRef | None:
        """The adapter ``tenant`` serves now, or ``None`` (the base model alone)."""
        row = self._current(tenant)
        if row is None or row.adapter_id is None:
            return None
        adapter = self.adapter_by_id(row.adapter_id)
        return ref_of(adapter) if adapter is not None else None

    def history(self, tenant: str) -> list[ActivationRow]:
        stmt = select(ActivationRow).where(ActivationRow.tenant == tenant).order_by(ActivationRow.id.desc())
        return self._query(lambda s: list(s.execute(stmt).scalars()))

    def _current(self, tenant: str, conn: Connection | None = None) -> ActivationRow | None:
        stmt = select(ActivationRow).where(ActivationRow.tenant == tenant).order_by(ActivationRow.id.desc()).limit(1)
        if conn is not None:
            found = conn.execute(stmt.with_only_columns(*ActivationRow.__table__.columns)).first()
            return ActivationRow(**found._mapping) if found is not None else None
        return self._query(lambda s: s.execute(stmt).scalars().first())

    def activate(self, conn: Connection, tenant: str, adapter: AdapterRow, actor: str) -> int | None:
        """Make ``adapter`` the active one of ``tenant``, on ``conn``; returns the previous adapter id.

        Raises:
            Conflict: the adapter's gates did not pass, or it belongs to another tenant.
        """
        refusal = activation_refusal(adapter, tenant)
        if refusal is not None:
            raise Conflict(refusal.message)
        current = self._current(tenant, conn)
        previous = current.adapter_id if current is not None else None
        values = {"tenant": tenant, "adapter_id": adapter.id, "previous_id": previous, "action": "activate"}
        conn.execute(insert(ActivationRow).values(**values, actor=actor))
        return previous

    def rollback(self, conn: Connection, tenant: str, actor: str) -> tuple[int | None, int | None]:
        """Return ``tenant`` to the adapter active before the current one; returns (from, to).

        Raises:
            NotFound: the tenant has nothing to roll back.
        """
        current = self._current(tenant, conn)
        if current is None or current.adapter_id is None:
            raise NotFound("this tenant has no active adapter to roll back")
        target = current.previous_id
        # Rolling back twice goes further back: the new row's own "previous" is what preceded the
        # target when it was last activated.
        before = None
        if target is not None:
            stmt = (
                select(ActivationRow.previous_id)
                .where(ActivationRow.tenant == tenant, ActivationRow.adapter_id == target)
                .where(ActivationRow.action == "activate")
                .order_by(ActivationRow.id.desc())
                .limit(1)
            )
            before = conn.execute(stmt).scalar()
        values = {"tenant": tenant, "adapter_id": target, "previous_id": before, "action": "rollback"}
        conn.execute(insert(ActivationRow).values(**values, actor=actor))
        return current.adapter_id, target


def _insert(conn: Connection, row: Base) -> Any:
    table: Table = row.__table__  # type: ignore[assignment]  # declarative tables are Tables
    values = {c.name: getattr(row, c.key) for c in table.columns if getattr(row, c.key, None) is not None}
    return conn.execute(insert(table).values(**values))


@dataclass(frozen=True)
class Refusal:
    """Why an adapter cannot be activated: a stable ``reason`` for the audit row, a message for people."""

    reason: str
    message: str


def activation_refusal(adapter: AdapterRow, tenant: str) -> Refusal | None:
    """Why ``adapter`` cannot serve ``tenant`` (``None``: it can). The weight files are hashed here."""
    if adapter.tenant != tenant:
        return Refusal("another_tenant", "this adapter belongs to another tenant")
    if adapter.status != PASSED:
        return Refusal("gates_not_passed", f"this adapter's safety gates have not passed (status: {adapter.status})")
    try:
        verify_adapter(adapter.path, adapter.digest)
    except AdapterIntegrityError as exc:
        return Refusal("integrity", f"{exc}: the gates certified other weights; train and gate it again")
    return None
