"""``gateway serve --workers N`` listens on a socket whose accepted connections get TCP_NODELAY.

uvicorn's own listener (``Config.bind_socket``) has ``proto`` 0, accepted sockets inherit it, and
asyncio then leaves Nagle's algorithm on: each keep-alive response waited ~40 ms for the client's
delayed ACK (uvicorn issue 3149; a sequential ``/v1/ask`` took 104 ms with two workers, 54 ms with one).
"""

from __future__ import annotations

import asyncio
import socket

import pytest
import uvicorn

from gateway.cli import tcp_listener


async def _accepted_nodelay(listener: socket.socket) -> int:
    """Accept one connection on ``listener`` with asyncio, as a uvicorn worker does, and read its option."""
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def on_connect(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(on_connect, sock=listener)
    port = listener.getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await asyncio.wait_for(seen, timeout=10)
    finally:
        writer.close()
        server.close()
        await server.wait_closed()


def test_connections_accepted_on_the_workers_listener_have_tcp_nodelay() -> None:
    listener = tcp_listener("127.0.0.1", 0)
    assert listener.proto == socket.IPPROTO_TCP and listener.get_inheritable()
    assert asyncio.run(_accepted_nodelay(listener)) != 0


def test_uvicorns_own_listener_loses_tcp_nodelay_which_is_why_we_bind_ourselves() -> None:
    """Pins the upstream behaviour the workaround exists for; if uvicorn fixes it,
    ``tcp_listener`` can go (``gateway/cli.py``): skipped then."""
    listener = uvicorn.Config("gateway.app:create_app", host="127.0.0.1", port=0).bind_socket()
    if listener.proto == socket.IPPROTO_TCP:
        pytest.skip("uvicorn now binds with IPPROTO_TCP: gateway.cli.tcp_listener can go")
    assert asyncio.run(_accepted_nodelay(listener)) == 0


def test_a_port_in_use_is_a_clear_exit_not_a_traceback() -> None:
    taken = tcp_listener("127.0.0.1", 0)
    taken.listen()
    with pytest.raises(SystemExit) as exited:
        tcp_listener("127.0.0.1", taken.getsockname()[1])
    assert exited.value.code == 3
    taken.close()
