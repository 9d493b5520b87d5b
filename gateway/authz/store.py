"""The policy store: ``casbin_rule`` rows (through pycasbin's SQLAlchemy adapter) and the version row.

Every change runs in one database transaction: the caller's (``connection``), so that the change
and its audit row commit together, or its own. A change writes the rules and bumps
``policy_state.version`` in that transaction, so a rule change is never visible without its version
bump (nor the other way round); a no-op (adding a rule that exists) bumps nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy_adapter import Adapter

from gateway.authz.models import CasbinRule, PolicyState
from gateway.authz.rules import PolicyRule

_STATE_ID = 1


class TransactionalAdapter(Adapter):  # type: ignore[misc]  # sqlalchemy_adapter ships no type hints
    """``sqlalchemy_adapter.Adapter`` that works inside the caller's session when one is bound.

    The schema belongs to Alembic, so the adapter never creates tables (``create_table=False``).
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, db_class=CasbinRule, create_table=False)
        self._bound = threading.local()

    @contextmanager
    def _session_scope(self) -> Iterator[Session]:
        session: Session | None = getattr(self._bound, "session", None)
        if session is not None:
            yield session  # the enclosing transaction commits or rolls back
            return
        with super()._session_scope() as own:
            yield own

    @contextmanager
    def bound(self, session: Session) -> Iterator[Session]:
        """Every adapter call made inside the block (on this thread) uses ``session``."""
        self._bound.session = session
        try:
            yield session
        finally:
            self._bound.session = None


class PolicyStore:
    """Reads and writes policy in the database; knows nothing about enforcement."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._adapter = TransactionalAdapter(engine)

    def ensure_state_row(self) -> None:
        """Create the version row (version 0) if it is missing; harmless when another process races us."""
        try:
            with Session(self._engine) as session, session.begin():
                if session.get(PolicyState, _STATE_ID) is None:
                    session.add(PolicyState(id=_STATE_ID, version=0, updated_by="system"))
        except IntegrityError:
            pass

    def read_version(self) -> int:
        with Session(self._engine) as session:
            version = session.scalar(select(PolicyState.version).where(PolicyState.id == _STATE_ID))
        return int(version or 0)

    def load(self) -> tuple[int, list[PolicyRule]]:
        """The version, then the rules. Read in that order: a change committed in between makes the
        version we record older than the rules we hold, so the next poll simply reloads again."""
        version = self.read_version()
        with Session(self._engine) as session:
            rows = session.scalars(select(CasbinRule).order_by(CasbinRule.id)).all()
            rules = [_to_rule(row) for row in rows]
        return version, rules

    def add(self, rule: PolicyRule, actor: str, connection: Connection | None = None) -> bool:
        def change(session: Session) -> bool:
            if self._exists(session, rule):
                return False
            self._adapter.add_policy(rule.ptype, rule.ptype, list(rule.fields))
            return True

        return self._change(actor, change, connection)

    def remove(self, rule: PolicyRule, actor: str, connection: Connection | None = None) -> bool:
        def change(_session: Session) -> bool:
            return bool(self._adapter.remove_policy(rule.ptype, rule.ptype, list(rule.fields)))

        return self._change(actor, change, connection)

    def replace_all(self, rules: Sequence[PolicyRule], actor: str, connection: Connection | None = None) -> None:
        def change(session: Session) -> bool:
            session.query(CasbinRule).delete()
            for rule in rules:
                self._adapter.add_policy(rule.ptype, rule.ptype, list(rule.fields))
            return True

        self._change(actor, change, connection)

    def seed_if_empty(self, rules: Sequence[PolicyRule], actor: str, connection: Connection | None = None) -> bool:
        def change(session: Session) -> bool:
            if session.scalar(select(func.count()).select_from(CasbinRule)):
                return False
            for rule in rules:
                self._adapter.add_policy(rule.ptype, rule.ptype, list(rule.fields))
            return True

        return self._change(actor, change, connection)

    def _change(self, actor: str, change: Callable[[Session], bool], connection: Connection | None) -> bool:
        """Run ``change`` in ``connection``'s transaction (left open for the caller) or in a new one."""
        if connection is None:
            with self._engine.begin() as own:
                return self._change(actor, change, own)
        with Session(bind=connection) as session, self._adapter.bound(session):
            # The version row's lock (PostgreSQL) serialises administrators across processes before
            # anything is read; SQLite's write lock does the same once the transaction writes.
            session.execute(select(PolicyState.id).where(PolicyState.id == _STATE_ID).with_for_update())
            changed = change(session)
            if changed:
                self._bump(session, actor)
            session.flush()
        return changed

    @staticmethod
    def _bump(session: Session, actor: str) -> None:
        result = session.execute(
            update(PolicyState)
            .where(PolicyState.id == _STATE_ID)
            .values(version=PolicyState.version + 1, updated_at=func.now(), updated_by=actor[:255])
        )
        if getattr(result, "rowcount", 0) == 0:
            session.add(PolicyState(id=_STATE_ID, version=1, updated_by=actor[:255]))
            session.flush()

    @staticmethod
    def _exists(session: Session, rule: PolicyRule) -> bool:
        query = select(CasbinRule.id).where(CasbinRule.ptype == rule.ptype)
        columns = (CasbinRule.v0, CasbinRule.v1, CasbinRule.v2, CasbinRule.v3, CasbinRule.v4, CasbinRule.v5)
        for i, column in enumerate(columns):
            value = rule.fields[i] if i < len(rule.fields) else None
            query = query.where(column == value if value is not None else column.is_(None))
        return session.scalar(query.limit(1)) is not None


def _to_rule(row: CasbinRule) -> PolicyRule:
    """The same reading the adapter's ``load_policy`` does: the non-null fields, in order."""
    values = (row.v0, row.v1, row.v2, row.v3, row.v4, row.v5)
    return PolicyRule(row.ptype or "", tuple(v for v in values if v is not None))
