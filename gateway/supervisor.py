"""``gateway serve --workers N``: one listening socket per worker (``SO_REUSEPORT``), so the kernel
spreads connections evenly over the workers.

uvicorn's ``Multiprocess`` gives every worker the same listening socket. Whichever worker's event
loop wakes first accepts every pending connection (asyncio accepts up to the backlog per wake-up),
so long-lived keep-alive connections opened together land on one process: measured here with two
workers and 32 connections opened at once, 32/0, 20/12 and 31/1 (``ss``, 2026-11-30), and in
``bench.http`` two workers then used ~1.2 of the 2 cores at 32 concurrent asks, against ~1.6 at 8.
With ``SO_REUSEPORT`` each worker listens on a socket of its own bound to the same port and the
kernel picks the socket for each new connection by a hash of its addresses, so connections are
spread whether or not a worker is busy (tests/e2e/test_serve_workers.py).

``BalancedMultiprocess`` is uvicorn's supervisor with one change: worker ``i`` always gets listener
``i``, also when it is restarted after dying or replaced by ``SIGHUP``'s rolling restart (a socket
without a worker would hold its share of connections unanswered). The three methods that start
workers are uvicorn 0.54's, with the slot passed through.
"""

from __future__ import annotations

import socket

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process, logger


def reuseport_listeners(host: str, port: int, count: int) -> list[socket.socket] | None:
    """``count`` listening sockets on ``host:port`` with ``SO_REUSEPORT`` (port 0: the first one's
    ephemeral port for all), or None where the platform has no ``SO_REUSEPORT``."""
    if not hasattr(socket, "SO_REUSEPORT"):
        return None
    from gateway.cli import tcp_listener  # noqa: PLC0415 - one way to bind, with IPPROTO_TCP

    first = tcp_listener(host, port, reuse_port=True)
    bound = first.getsockname()[1]
    return [first, *(tcp_listener(host, bound, reuse_port=True) for _ in range(count - 1))]


class BalancedMultiprocess(Multiprocess):
    """uvicorn's ``Multiprocess`` with listener ``i`` for worker ``i`` (see the module docstring)."""

    def __init__(self, config: Config, listeners: list[socket.socket]) -> None:
        if len(listeners) != config.workers:
            raise ValueError("one listener per worker")
        super().__init__(config, sockets=[])
        self.listeners = listeners

    def _process(self, slot: int) -> Process:
        return Process(self.config, [self.listeners[slot]])

    def init_processes(self) -> None:
        for slot in range(self.processes_num):
            process = self._process(slot)
            process.start()
            self.processes.append(process)

    def restart_all(self) -> None:
        """Replaces each worker, bringing its replacement into service before retiring the old worker."""
        for idx, old_process in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new_process = self._process(idx)
            new_process.start()
            if not new_process.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new_process.kill()
                new_process.join()
                if not self.should_exit.is_set():
                    logger.error(
                        f"New child process [{new_process.pid}] was not ready in time; "
                        f"keeping worker [{old_process.pid}] and aborting the restart."
                    )
                return
            old_process.terminate()
            old_process.join()
            self.processes[idx] = new_process

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for idx, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung: kill it
            process.join()
            if process.exitcode == STARTUP_FAILURE:  # broken app or bind: every restart would fail alike
                logger.error(f"Child process [{process.pid}] failed to start, stopping the parent process.")
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            logger.info(f"Child process [{process.pid}] died")
            replacement = self._process(idx)
            replacement.start()
            self.processes[idx] = replacement
