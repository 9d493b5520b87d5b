"""Two real processes share one policy store: a change made by A is enforced by B within 2 s."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import gateway.authz.models
from gateway.authz.service import PolicyService
from gateway.db import Base, make_engine

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "policies" / "model.conf"

# Process B: enforces continuously and reports every change of its decision on stdout.
WATCHER = """
import sys, time
from pathlib import Path
from gateway.auth.principal import Principal
from gateway.authz.service import DocumentRef, PolicyService
from gateway.db import make_engine
from gateway.errors import PolicyUnavailable

svc = PolicyService(make_engine(sys.argv[1]), Path(sys.argv[2]), poll_seconds=0.5)
svc.start()
alice = Principal("alice", "acme", frozenset({"finance"}))
doc = DocumentRef("acme", "finance", (), ())
print("READY", svc.version, flush=True)
last = None
deadline = time.time() + 90
while time.time() < deadline:
    try:
        state = "allowed" if svc.can_read(alice, doc).allowed else "denied"
    except PolicyUnavailable:
        state = "unavailable"
    if state != last:
        print("STATE", state, time.time(), flush=True)
        last = state
    time.sleep(0.01)
"""

# Process A: one administrative change, then the wall-clock time it committed.
CHANGER = """
import sys, time
from pathlib import Path
from gateway.authz.rules import PolicyRule
from gateway.authz.service import PolicyService
from gateway.db import make_engine

svc = PolicyService(make_engine(sys.argv[1]), Path(sys.argv[2]), poll_seconds=0.5)
rule = PolicyRule("p", ("group:finance", "acme", "collection:finance", "read", sys.argv[4]))
changed = getattr(svc, sys.argv[3] + "_rule")(rule, actor="process-a")
print("CHANGED", changed, time.time(), flush=True)
"""


class Watcher:
    """Process B, its stdout lines collected by a thread."""

    def __init__(self, url: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WATCHER, url, str(MODEL)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def expect(self, prefix: str, timeout: float = 30.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if line.startswith(prefix):
                return line.split()

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


def change(url: str, op: str, effect: str = "allow") -> float:
    """Run process A; return the time its change committed."""
    out = subprocess.run(
        [sys.executable, "-c", CHANGER, url, str(MODEL), op, effect],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    assert out[:2] == ["CHANGED", "True"], out
    return float(out[2])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> Iterator[str]:
    url = str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))
    assert gateway.authz.models.CasbinRule.__tablename__ == "casbin_rule"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    PolicyService(engine, MODEL).load_seed_if_empty(ROOT / "policies")
    engine.dispose()
    yield url


def test_a_change_in_process_a_is_enforced_by_process_b_within_2_seconds(db_url: str) -> None:
    watcher = Watcher(db_url)
    try:
        watcher.expect("READY")
        assert watcher.expect("STATE")[1] == "denied"
        lags = []
        for op, effect, expected in [
            ("add", "allow", "allowed"),
            ("add", "deny", "denied"),  # a deny added later wins over the allow
            ("remove", "deny", "allowed"),
            ("remove", "allow", "denied"),
        ]:
            committed = change(db_url, op, effect)
            _, state, seen = watcher.expect("STATE", timeout=10)
            assert state == expected
            lags.append(float(seen) - committed)
        print(f"\nprocess B enforced process A's changes after {[round(lag, 3) for lag in lags]} s")
        assert max(lags) < 2.0
    finally:
        watcher.close()
