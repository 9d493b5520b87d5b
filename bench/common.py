"""Small helpers shared by the benchmarks: timing, percentiles, memory, tables."""

from __future__ import annotations

import os
import platform
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

console = Console(width=160)


@dataclass
class Report:
    """One printed table; also kept as Markdown for docs/benchmarks.md."""

    title: str
    columns: Sequence[str]
    rows: list[Sequence[Any]] = field(default_factory=list)

    def add(self, *row: Any) -> None:
        self.rows.append(row)

    def print(self) -> None:
        table = Table(title=self.title)
        for i, col in enumerate(self.columns):
            table.add_column(col, justify="left" if i == 0 else "right")
        for row in self.rows:
            table.add_row(*(fmt(v) for v in row))
        console.print(table)

    def markdown(self) -> str:
        head = "| " + " | ".join(self.columns) + " |"
        rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(self.columns))) + "|"
        body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in self.rows]
        return "\n".join([f"**{self.title}**", "", head, rule, *body, ""])


def fmt(value: Any) -> str:
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def percentiles(samples_ms: Sequence[float]) -> tuple[float, float]:
    """(p50, p95) in milliseconds."""
    arr = np.asarray(samples_ms, dtype=np.float64)
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 95))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(milliseconds, result) of one call."""
    start = time.perf_counter()
    result = fn()
    return (time.perf_counter() - start) * 1000, result


def latencies(
    fn: Callable[[Any], Any],
    inputs: Sequence[Any],
    *,
    rounds: int = 1,
    warmup: int = 5,
    cpu: list[float] | None = None,
) -> list[float]:
    """Wall milliseconds per call of ``fn`` over ``inputs``, ``rounds`` times (after a short warm-up).

    ``cpu``, when given, receives the process CPU milliseconds of each call: unlike wall time it
    does not grow when other processes take the cores, so it is the figure to compare across runs
    on a shared machine (it misses only time spent waiting, e.g. for the disk).
    """
    for item in inputs[:warmup]:
        fn(item)
    out = []
    for _ in range(rounds):
        for item in inputs:
            start, cpu_start = time.perf_counter(), time.process_time()
            fn(item)
            out.append((time.perf_counter() - start) * 1000)
            if cpu is not None:
                cpu.append((time.process_time() - cpu_start) * 1000)
    return out


def memory_mb() -> dict[str, float]:
    """VmRSS and VmHWM (peak) of this process, in MB."""
    out: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def machine() -> str:
    """One line: date, cores, CPU model, RAM, Python."""
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    date = subprocess.run(["date", "-u"], capture_output=True, text=True, check=False).stdout.strip()
    load = os.getloadavg()[0]
    return (
        f"{date}; {os.cpu_count()} cores, {cpu}, {mem_kb / 1024 / 1024:.0f} GiB RAM; "
        f"Python {platform.python_version()}; load average {load:.2f} at start"
    )


PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
"""The PostgreSQL every machine here runs (trust auth); benches create a database of their own in it."""


@contextmanager
def throwaway_postgres(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one bench run, set as ``GATEWAY_DATABASE_URL`` (and the dev
    issuer forced: a throwaway database on 127.0.0.1) for the servers it starts; dropped afterwards."""
    from sqlalchemy import create_engine, text  # noqa: PLC0415 - only benches that use PostgreSQL

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    saved = {k: os.environ.get(k) for k in ("GATEWAY_DATABASE_URL", "GATEWAY_FORCE_DEV_ISSUER")}
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        os.environ["GATEWAY_DATABASE_URL"] = url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
        os.environ["GATEWAY_FORCE_DEV_ISSUER"] = "true"
        yield url
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
