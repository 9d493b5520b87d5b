"""``gateway serve`` as a real process on a free port, for the end-to-end tests that need a socket."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def served(
    env: dict[str, str], *args: str, ready_seconds: float = 120, poll_seconds: float = 0.5, stop_seconds: float = 30
) -> Iterator[str]:
    """``gateway serve --port <free> *args`` until the block ends; yields its base URL once /readyz is 200."""
    port = free_port()
    command: Sequence[str] = [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port), *args]
    proc = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_seconds
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None:
                raise AssertionError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
            time.sleep(poll_seconds)
        else:
            raise AssertionError("server did not become ready")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=stop_seconds)
