"""The Alembic migrations: they go up and down cleanly, and they build exactly what the models say."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.pool import NullPool

import gateway.audit.models
import gateway.authz.models
import gateway.finetune.models
import gateway.ingest.models  # noqa: F401  (register every table on Base.metadata)
from gateway import migrate
from gateway.db import Base

ROOT = Path(__file__).resolve().parents[2]
TABLES = {
    "alembic_version", "audit_anchors", "audit_exports", "audit_log", "casbin_rule", "documents", "policy_state",
    "quarantine", "poisoning_flood_documents", "poisoning_flood_bands",
    "finetune_datasets", "finetune_adapters", "finetune_activations",
}  # fmt: skip


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    return url


def _tables(url: str) -> set[str]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    assert migrate.current(db_url) is None
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == migrate.head()
    assert _tables(db_url) == TABLES
    migrate.downgrade(db_url, "base")
    assert migrate.current(db_url) is None
    assert _tables(db_url) == {"alembic_version"}
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == migrate.head()


def test_models_and_migrations_agree(db_url: str) -> None:
    migrate.upgrade(db_url)
    engine = create_engine(db_url, poolclass=NullPool)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_upgrade_seeds_the_policy_version_row(db_url: str) -> None:
    migrate.upgrade(db_url)
    engine = create_engine(db_url, poolclass=NullPool)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, version FROM policy_state")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [(1, 0)]


def test_metadata_holds_every_table_the_migration_creates() -> None:
    assert set(Base.metadata.tables) == TABLES - {"alembic_version"}


def test_migrate_works_from_any_working_directory(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.sqlite3'}"
    code = f"from gateway import migrate; migrate.upgrade({url!r}); print(migrate.current({url!r}))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == migrate.head()


def test_alembic_command_line_reads_the_gateway_database_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), "upgrade", "head"],
        cwd=tmp_path,
        # No PYTHONPATH: alembic.ini's prepend_sys_path makes the gateway package importable.
        env={**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "GATEWAY_DATABASE_URL": url},
        capture_output=True,
        check=True,
    )
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        assert conn.execute(select(text("version_num")).select_from(text("alembic_version"))).scalar() == migrate.head()
    engine.dispose()
    engine.dispose()


def test_rows_written_before_hash_format_2_keep_format_1_and_still_verify(db_url: str) -> None:
    """The format 2 migration is deliberate: old rows are not re-hashed, they are marked format 1."""
    from datetime import UTC, datetime

    from gateway.audit.chain import GENESIS_HASH, HASHED_FIELDS, canonical_row
    from gateway.audit.log import AuditLog
    from gateway.audit.models import AUDIT_TABLE
    from gateway.audit.record import AuditRecord
    from gateway.db import make_engine

    migrate.upgrade(db_url, "0001")
    row = {
        "sequence": 1, "request_id": "r1", "occurred_at": datetime(2026, 11, 25, tzinfo=UTC), "tenant": "acme",
        "subject": "alice", "groups": [], "policy_version": 1, "kind": "ask", "action": "", "status": "answered",
        "question": "q?", "answer": "a.", "citations": [], "retrieved": [], "generator": None, "guards": {},
        "latencies_ms": {}, "details": {}, "prev_hash": GENESIS_HASH,
    }  # fmt: skip
    import hashlib

    row["row_hash"] = hashlib.sha256(canonical_row({k: row[k] for k in HASHED_FIELDS})).hexdigest()
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(AUDIT_TABLE.insert().values(**row))  # only 0001's columns
    engine.dispose()
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    log = AuditLog(engine)
    log.append(AuditRecord("r2", "ask", "answered", "acme", "bob", (), 1, datetime(2026, 11, 30, tzinfo=UTC)))
    assert [r["hash_format"] for r in log.iter_rows()] == [1, 2]
    assert log.verify().ok


def test_the_digest_migration_hashes_existing_adapters_and_leaves_lost_ones_unservable(
    db_url: str, tmp_path: Path
) -> None:
    """0007 adds ``finetune_adapters.digest``: rows whose files exist get their digest, lost ones NULL."""
    from gateway.db import make_engine
    from gateway.finetune.integrity import adapter_digest

    migrate.upgrade(db_url, "0006")
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "adapter_config.json").write_text('{"r": 8}')
    (kept / "adapter_model.safetensors").write_bytes(b"weights")
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO finetune_datasets (id, tenant, path, sources, scrub_report, screen_report, split,"
                " pii_digests, created_by) VALUES ('ds', 't', '/x', '[]', '{}', '{}', '{}', '[]', 'me')"
            )
        )
        for i, path in ((1, kept), (2, tmp_path / "lost")):
            conn.execute(
                text(
                    "INSERT INTO finetune_adapters (id, tenant, name, version, base, path, dataset_id, params,"
                    " canaries, metrics, gates, status, created_by) VALUES"
                    " (:id, 't', :name, 1, '/base', :path, 'ds', '{}', '[]', '{}', '{}', 'passed', 'me')"
                ),
                {"id": i, "name": f"a{i}", "path": str(path)},
            )
    engine.dispose()
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        digests = dict(conn.execute(text("SELECT name, digest FROM finetune_adapters ORDER BY id")).all())
    engine.dispose()
    assert digests == {"a1": adapter_digest(kept), "a2": None}
