"""Graceful shutdown of a real server process: SIGTERM while answers are being generated.

The in-flight requests finish within the grace period and each has its audit row; connections
arriving after the signal are refused; the process exits cleanly and the chain verifies.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.audit.log import AuditLog
from gateway.auth.dev import mint_dev_token
from gateway.db import make_engine
from tests.e2e.conftest import REPO, TENANT, make_settings

IN_FLIGHT = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _serve(data_dir: Path, port: int, grace: int, model_seconds: float) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_ENVIRONMENT="test", GATEWAY_DEV_ISSUER="true", GATEWAY_DATA_DIR=str(data_dir),
        GATEWAY_OIDC_TENANT_CLAIM="tenant", GATEWAY_EMBEDDING_PROVIDER="hashing", GATEWAY_AUTO_MIGRATE="false",
        SLOW_MODEL_SECONDS=str(model_seconds), PYTHONPATH=str(REPO), OMP_NUM_THREADS="1",
    )  # fmt: skip
    cmd = [sys.executable, "-m", "uvicorn", "tests.e2e.slow_model_app:create", "--factory", "--port", str(port)]
    cmd += ["--timeout-graceful-shutdown", str(grace), "--no-access-log"]
    return subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited during start-up"
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("server did not become ready")


def test_sigterm_finishes_in_flight_answers_refuses_new_ones_and_loses_no_audit_row(data_dir: Path) -> None:
    settings = make_settings(data_dir)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _serve(data_dir, port, grace=10, model_seconds=1.5)
    results: list[Any] = []
    try:
        _wait_ready(base, proc)

        def ask(i: int) -> None:
            token = mint_dev_token(settings, f"user{i}", ["staff", "engineering"], tenant=TENANT, ttl_seconds=600)
            try:
                r = httpx.post(
                    f"{base}/v1/ask", json={"question": "How long is the on-call rotation?"},
                    headers={"Authorization": f"Bearer {token}"}, timeout=30,
                )  # fmt: skip
                results.append((r.status_code, r.json().get("answered")))
            except httpx.HTTPError as exc:
                results.append(exc)

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(IN_FLIGHT)]
        for t in threads:
            t.start()
        time.sleep(0.8)  # every request is in the pipeline, the model is busy
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(httpx.TransportError):  # new connections are refused while draining
            httpx.get(f"{base}/healthz", timeout=2)
        for t in threads:
            t.join(timeout=30)
        # uvicorn re-raises the captured SIGTERM after its graceful shutdown: -15 is the clean exit.
        assert proc.wait(timeout=20) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert results == [(200, True)] * IN_FLIGHT
    engine = make_engine(settings.resolved_database_url)
    audit = AuditLog(engine)
    asks = audit.search(tenant=TENANT, kind="ask", limit=100)
    assert sorted(r["subject"] for r in asks if r["status"] == "answered") == [f"user{i}" for i in range(IN_FLIGHT)]
    assert audit.verify().ok
    engine.dispose()
