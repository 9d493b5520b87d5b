"""The README walk-through, for real: CLI commands, uvicorn on a socket, the transformer embedder.

This is the one slow end-to-end test: it runs what ``make run`` runs (migrate, policy load,
ingest of the sample corpus with all-MiniLM-L6-v2, serve), then asks over HTTP as two personas,
verifies the audit chain with the CLI, tampers with a row and sees the CLI name it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.serving import REPO, free_port, served

pytestmark = pytest.mark.slow


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_ENVIRONMENT="development",
        GATEWAY_DEV_ISSUER="true",
        GATEWAY_DATA_DIR=str(data_dir),
        GATEWAY_OIDC_TENANT_CLAIM="tenant",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PYTHONPATH=str(REPO),
    )
    return env


def _cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        check=False,
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"gateway {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    data_dir = tmp_path_factory.mktemp("server")
    env = _env(data_dir)
    _cli(env, "migrate")
    _cli(env, "policy", "load", "--file", "data/sample/policy.csv")
    summary = _cli(env, "ingest", "data/sample", "--tenant", "northwind").stdout
    assert "0 failed" in summary, summary
    with served(env) as base:
        yield base, env


def _token(env: dict[str, str], sub: str, groups: str) -> str:
    out = _cli(env, "token", "--sub", sub, "--groups", groups, "--tenant", "northwind", "--ttl", "10m").stdout
    return out.strip().splitlines()[-1]


def test_readme_walkthrough_answers_by_permission_and_audits(server: tuple[str, dict[str, str]]) -> None:
    base, env = server
    question = {"question": "How much is the weekly on-call stipend?"}
    alice = {"Authorization": f"Bearer {_token(env, 'alice', 'staff,engineering,sre')}"}
    r = httpx.post(f"{base}/v1/ask", json=question, headers=alice, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["answered"] and body["citations"][0]["document_id"] == "eng-oncall-rotation"
    assert "[1]" in body["answer"]

    carol = {"Authorization": f"Bearer {_token(env, 'carol', 'staff,finance')}"}
    r = httpx.post(f"{base}/v1/ask", json=question, headers=carol, timeout=30)
    assert r.status_code == 200
    assert all(c["document_id"] != "eng-oncall-rotation" for c in r.json()["citations"])

    r = httpx.post(f"{base}/v1/ask", json=question, timeout=30)
    assert r.status_code == 401

    verified = _cli(env, "audit", "verify")
    assert "audit chain OK" in verified.stdout


def test_doctor_reports_every_dependency_ok(server: tuple[str, dict[str, str]]) -> None:
    _, env = server
    result = _cli(env, "doctor", check=False)
    assert result.returncode == 0, result.stderr
    for name in ("data dir", "identity provider", "database", "policy", "embedder", "search index", "pii guard"):
        assert name in result.stderr


def test_audit_verify_names_the_tampered_row(server: tuple[str, dict[str, str]]) -> None:
    _, env = server
    db = Path(env["GATEWAY_DATA_DIR"]) / "gateway.sqlite3"
    with sqlite3.connect(db) as conn:
        (seq,) = conn.execute("SELECT min(sequence) FROM audit_log WHERE kind = 'ask'").fetchone()
        conn.execute("UPDATE audit_log SET answer = 'edited' WHERE sequence = ?", (seq,))
    result = _cli(env, "audit", "verify", check=False)
    assert result.returncode == 1
    assert f"sequence {seq}" in result.stdout


def test_token_is_refused_when_the_dev_issuer_is_off(server: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    _, env = server
    env_off = {**env, "GATEWAY_DEV_ISSUER": "false", "GATEWAY_OIDC_ISSUER": "http://127.0.0.1:9/"}
    result = _cli(env_off, "token", "--sub", "x", "--tenant", "northwind")
    assert "refuse" in result.stderr


def test_the_data_dir_is_private_and_cli_changes_name_the_os_account(server: tuple[str, dict[str, str]]) -> None:
    import pwd
    import stat

    _, env = server
    data = Path(env["GATEWAY_DATA_DIR"])
    loose = [p for p in (data, *data.rglob("*")) if stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert loose == []  # 0700 directories, 0600 files: document text and the audit trail are private
    assert stat.S_IMODE((data / "gateway.sqlite3").stat().st_mode) == 0o600
    with sqlite3.connect(data / "gateway.sqlite3") as conn:
        subjects = {s for (s,) in conn.execute("SELECT DISTINCT subject FROM audit_log WHERE kind = 'ingest'")}
    assert subjects == {f"cli:{pwd.getpwuid(os.getuid()).pw_name}"}


def test_sigterm_during_a_long_parse_shuts_down_promptly(tmp_path: Path) -> None:
    """A document that takes long to parse must not hold SIGTERM: the parse worker is killed."""
    import base64
    import signal
    import threading

    env = {
        **_env(tmp_path),
        "GATEWAY_EMBEDDING_PROVIDER": "hashing",
        "GATEWAY_SHUTDOWN_GRACE_SECONDS": "2",
        "GATEWAY_INGEST_PARSE_TIMEOUT_SECONDS": "300",
    }
    _cli(env, "migrate")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        token = _cli(env, "token", "--sub", "root", "--groups", "gateway-admins", "--tenant", "t").stdout.split()[-1]
        cell = b"<div><p>lorem <b>ipsum</b> dolor</p></div>"
        html = b"<html><body>" + cell * (12 * 2**20 // len(cell)) + b"</body></html>"
        body = {
            "id": "big",
            "collection": "public",
            "mime_type": "text/html",
            "content_base64": base64.b64encode(html).decode(),
        }

        def post() -> None:
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(f"{base}/v1/documents", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=120)

        threading.Thread(target=post, daemon=True).start()
        time.sleep(3.0)  # the document is now being parsed in a worker
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert time.monotonic() - start < 15
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
