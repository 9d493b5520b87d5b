"""Bounded stages on their own: slots, queue wait, timeouts, and a hung call cannot block exit."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from gateway.errors import Busy, StageTimeout
from gateway.stages import Stage


def test_a_call_returns_its_value_and_raises_its_exception() -> None:
    stage = Stage("t", slots=1, timeout=1.0, queue_seconds=0.1)
    assert stage.run(lambda: 42) == 42
    with pytest.raises(ZeroDivisionError):
        stage.run(lambda: 1 // 0)
    stage.close()


def test_an_overrunning_call_times_out_and_keeps_its_slot_until_it_returns() -> None:
    stage = Stage("t", slots=1, timeout=0.1, queue_seconds=0.05)
    release = threading.Event()
    with pytest.raises(StageTimeout):
        stage.run(release.wait)
    with pytest.raises(Busy):  # the hung call still holds the only slot
        stage.run(lambda: 1)
    release.set()
    time.sleep(0.05)
    assert stage.run(lambda: 2) == 2
    stage.close()


def test_a_call_hung_for_ever_does_not_keep_the_process_alive() -> None:
    code = (
        "import threading\n"
        "from gateway.stages import Stage\n"
        "from gateway.errors import StageTimeout\n"
        "s = Stage('hung', slots=1, timeout=0.1, queue_seconds=0.1)\n"
        "try:\n    s.run(threading.Event().wait)\nexcept StageTimeout:\n    print('timed out')\n"
    )
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.strip() == "timed out" and time.monotonic() - start < 20
