"""SQLAlchemy engine and declarative base shared by every table the gateway owns.

Alembic (``migrations/``) owns the schema; ``Base.metadata`` is its autogenerate target, and a
test checks that the models and the migrations agree.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints predictably."""

    metadata = MetaData(naming_convention=NAMING)


def _sqlite_pragmas(busy_ms: int) -> Any:
    def apply(dbapi_connection: Any, _record: Any) -> None:
        cur = dbapi_connection.cursor()
        # WAL lets readers proceed during the serialized audit writes; busy_timeout makes concurrent
        # writers wait instead of failing with "database is locked" -- for a bounded time.
        # busy_timeout first: switching a fresh file to WAL takes a lock that racing processes must wait for.
        cur.execute(f"PRAGMA busy_timeout={busy_ms:d}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return apply


def make_engine(
    url: str, *, lock_timeout_seconds: float = 10.0, statement_timeout_seconds: float | None = None, **kwargs: Any
) -> Engine:
    """Create an engine with the settings this project relies on for each dialect.

    ``lock_timeout_seconds`` bounds every wait for a lock (SQLite ``busy_timeout``, PostgreSQL
    ``lock_timeout``): a locked database then fails the statement, which rolls back, instead of
    holding the request (and its thread) indefinitely. ``statement_timeout_seconds`` (PostgreSQL)
    bounds every statement the same way: a slow database answers 503, and the statement rolls back.
    """
    ms = max(1, int(lock_timeout_seconds * 1000))
    if url.startswith("sqlite"):
        args = {"check_same_thread": False, "timeout": lock_timeout_seconds}
        engine = create_engine(url, connect_args=args, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas(ms))
        return engine
    connect_args = kwargs.setdefault("connect_args", {})
    options = f"-c lock_timeout={ms}"
    if statement_timeout_seconds is not None:
        options += f" -c statement_timeout={max(1, int(statement_timeout_seconds * 1000))}"
    connect_args.setdefault("options", options)
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    return create_engine(url, **kwargs)
