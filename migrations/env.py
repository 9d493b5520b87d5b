"""Alembic environment: runs the migrations in ``migrations/versions`` against one database.

The URL is ``sqlalchemy.url`` when set (``gateway.migrate`` sets it), otherwise the gateway's
own setting (``GATEWAY_DATABASE_URL``, default SQLite in the data dir). A caller may also hand
over an open connection in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import NullPool

# Every module that defines tables, so that Base.metadata is complete for autogenerate.
import gateway.audit.models
import gateway.authz.models
import gateway.finetune.models
import gateway.ingest.models
import gateway.ingest.quarantine  # noqa: F401
from gateway.db import Base
from gateway.settings import Settings

config = context.config
target_metadata = Base.metadata

# The `alembic` command configures logging from alembic.ini; gateway.migrate does not, so that a
# migration run inside the application or the tests leaves their loggers alone.
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or Settings().resolved_database_url


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode recreates the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (``alembic upgrade --sql``)."""
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the given connection, or on a short-lived engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    engine = create_engine(_url(), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            _configure(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
