"""A ``gateway ingest`` process SIGKILLed half-way: after the restart no document is half-indexed
(every searchable chunk belongs to a committed version, every committed version has all its
chunks), and running the same ingest again finishes the job; the audit chain verifies."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from gateway.deps import build_services
from gateway.retrieval.embedded import EmbeddedRetriever
from tests.e2e.conftest import REPO, TENANT, make_settings

DOCUMENTS = 300


def _corpus(folder: Path) -> Path:
    folder.mkdir()
    for i in range(DOCUMENTS):
        paragraphs = "\n\n".join(f"Paragraph {p} of note {i}: the quarterly figure is {i * 7 + p}." for p in range(12))
        (folder / f"note-{i:04d}.md").write_text(f"# Note {i}\n\n{paragraphs}\n")
    return folder


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_ENVIRONMENT="test", GATEWAY_DATA_DIR=str(data_dir), GATEWAY_EMBEDDING_PROVIDER="hashing",
        GATEWAY_SCREENING_ENABLED="false", PYTHONPATH=str(REPO), OMP_NUM_THREADS="1",
    )  # fmt: skip
    return env


def _ingest(env: dict[str, str], corpus: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "gateway.cli", "ingest", str(corpus), "--tenant", TENANT, "--collection", "public"]
    return subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _progress(db: Path) -> tuple[int, int]:
    """(committed documents, documents with a version assigned but not committed)."""
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            committed, pending = conn.execute(
                "SELECT sum(version > 0), sum(assigned_version > version) FROM documents"
            ).fetchone()
            return int(committed or 0), int(pending or 0)
    except sqlite3.OperationalError:
        return 0, 0  # not created yet


def test_sigkill_mid_ingest_leaves_no_half_indexed_document_and_a_rerun_finishes(tmp_path: Path) -> None:
    corpus, data_dir = _corpus(tmp_path / "corpus"), tmp_path / "data"
    env = _env(data_dir)
    proc = _ingest(env, corpus)
    deadline = time.monotonic() + 120
    # Kill inside a later batch (about 128 documents each): one batch committed, the next one's
    # intent rows written and its index write under way or done, its outcome not yet committed.
    while time.monotonic() < deadline and proc.poll() is None:
        committed, pending = _progress(data_dir / "gateway.sqlite3")
        if committed and pending:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    committed, pending = _progress(data_dir / "gateway.sqlite3")
    assert 0 < committed < DOCUMENTS and pending > 0, "the kill must land half-way"

    settings = make_settings(data_dir)
    services = build_services(settings)
    services.start()  # the restart: the index opens (and recovers) without help
    registry, index = services.documents.registry, services.retriever
    assert isinstance(index, EmbeddedRetriever)
    for i in range(DOCUMENTS):
        row = registry.get(TENANT, f"note-{i:04d}.md")
        searchable = index.document_texts(TENANT, f"note-{i:04d}.md")
        if row is None or row.version == 0:
            continue  # never committed: the recheck serves none of its chunks whatever the index holds
        assert row.status == "indexed" and len(searchable) == row.chunk_count, (i, row.status, len(searchable))
    services.close()

    rerun = _ingest(env, corpus)
    assert rerun.wait(timeout=300) == 0
    services = build_services(settings)
    services.start()
    rows = [services.documents.registry.get(TENANT, f"note-{i:04d}.md") for i in range(DOCUMENTS)]
    states = sorted({(r.status, r.version, r.assigned_version) for r in rows if r is not None})
    assert all(r is not None and r.status == "indexed" and r.version >= 1 for r in rows), states
    assert all(
        len(services.retriever.document_texts(TENANT, r.document_id)) == r.chunk_count  # type: ignore[attr-defined]
        for r in rows
        if r is not None
    )
    assert services.documents.registry.interrupted() == []
    assert services.audit.verify().ok
    services.close()
