"""The policy store: ``casbin_rule`` rows (through pycasbin's SQLAlchemy adapter) and the version row.

Every change runs in one database transaction that *first* bumps ``policy_state.version`` and then
writes the rules. Bumping first takes the row lock (PostgreSQL) or the write lock (SQLite), so
concurrent administrators in different processes are serialised, and a rule change is never
visible without its version bump (nor the other way round). A change that turns out to be a
no-op (adding a rule that exists) rolls the whole transaction back, version included.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy_adapter import Adapter

from gateway.authz.models import CasbinRule, PolicyState
from gateway.authz.rules import PolicyRule

_STATE_ID = 1


class _Unchanged(Exception):
    """Raised inside a change transaction to roll it back: nothing to do."""


class TransactionalAdapter(Adapter):  # type: ignore[misc]  # sqlalchemy_adapter ships no type hints
    """``sqlalchemy_adapter.Adapter`` that joins the caller's transaction when one is open.

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
    def transaction(self) -> Iterator[Session]:
        """One transaction shared by every adapter call made inside the block (on this thread)."""
        maker: sessionmaker[Session] = self.session_local
        with maker() as session, session.begin():
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

    def add(self, rule: PolicyRule, actor: str) -> bool:
        def change(session: Session) -> None:
            if self._exists(session, rule):
                raise _Unchanged
            self._adapter.add_policy(rule.ptype, rule.ptype, list(rule.fields))

        return self._change(actor, change)

    def remove(self, rule: PolicyRule, actor: str) -> bool:
        def change(_session: Session) -> None:
            if not self._adapter.remove_policy(rule.ptype, rule.ptype, list(rule.fields)):
                raise _Unchanged

        return self._change(actor, change)

    def replace_all(self, rules: Sequence[PolicyRule], actor: str) -> None:
        def change(session: Session) -> None:
            session.query(CasbinRule).delete()
            for rule in rules:
                self._adapter.add_policy(rule.ptype, rule.ptype, list(rule.fields))

        self._change(actor, change)

    def seed_if_empty(self, rules: Sequence[PolicyRule], actor: str) -> bool:
        def change(session: Session) -> None:
            if session.scalar(select(func.count()).select_from(CasbinRule)):
                raise _Unchanged
            for rule in rules:
                self._adapter.add_policy(rule.ptype, rule.ptype, list(rule.fields))

        return self._change(actor, change)

    def _change(self, actor: str, change: Any) -> bool:
        try:
            with self._adapter.transaction() as session:
                self._bump(session, actor)
                change(session)
        except _Unchanged:
            return False
        return True

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
