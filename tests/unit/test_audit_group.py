"""Group commit: one write per batch, each caller gets its own entry, a bad row fails only its caller."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from gateway.audit.group import GroupCommit


class Ledger:
    """An in-memory stand-in for the chain: a write appends its batch in order, or fails whole."""

    def __init__(self) -> None:
        self.rows: list[str] = []
        self.writes: list[int] = []
        self.gate = threading.Event()
        self.gate.set()

    def write(self, records: Sequence[str]) -> list[int]:
        self.gate.wait(10)
        if "bad" in records:
            raise ValueError("unwritable row")
        self.writes.append(len(records))
        start = len(self.rows)
        self.rows.extend(records)
        return list(range(start + 1, start + 1 + len(records)))


def run(group: GroupCommit[str, int], names: list[str]) -> dict[str, int | BaseException]:
    out: dict[str, int | BaseException] = {}
    barrier = threading.Barrier(len(names))

    def work(name: str) -> None:
        barrier.wait()
        try:
            out[name] = group.submit(name)
        except BaseException as exc:  # collected and asserted on by the test
            out[name] = exc

    threads = [threading.Thread(target=work, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    return out


def test_each_caller_gets_the_position_of_its_own_row() -> None:
    ledger = Ledger()
    group: GroupCommit[str, int] = GroupCommit(ledger.write, max_batch=8)
    names = [f"r{i}" for i in range(40)]
    out = run(group, names)
    assert sorted(ledger.rows) == sorted(names)
    assert all(ledger.rows[out[n] - 1] == n for n in names)  # type: ignore[operator]
    assert sum(ledger.writes) == 40
    assert max(ledger.writes) <= 8


def test_rows_ready_together_share_one_write() -> None:
    ledger = Ledger()
    group: GroupCommit[str, int] = GroupCommit(ledger.write, max_batch=64)
    ledger.gate.clear()  # the first writer blocks, the others queue behind it
    first = threading.Thread(target=group.submit, args=("first",))
    first.start()
    while not group._leading:
        threading.Event().wait(0.001)
    rest = threading.Thread(target=run, args=(group, [f"r{i}" for i in range(10)]))
    rest.start()
    while len(group._queue) < 10:
        threading.Event().wait(0.001)
    ledger.gate.set()
    first.join(10)
    rest.join(10)
    assert ledger.writes == [1, 10]


def test_an_unwritable_row_fails_only_its_own_caller() -> None:
    ledger = Ledger()
    group: GroupCommit[str, int] = GroupCommit(ledger.write, max_batch=64)
    names = ["bad", *(f"r{i}" for i in range(12))]
    out = run(group, names)
    assert isinstance(out["bad"], ValueError)
    assert sorted(ledger.rows) == sorted(names[1:])
    assert all(isinstance(out[n], int) for n in names[1:])
