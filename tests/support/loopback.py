"""ASGI apps served for a test on 127.0.0.1, in a thread, by uvicorn.

The socket is bound first (port 0) and handed to uvicorn, so the URL is known before the app
exists and no other process can take the port between choosing and serving.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn


def loopback_socket() -> socket.socket:
    """A socket bound to a free loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def socket_url(sock: socket.socket, scheme: str = "http") -> str:
    """The URL of a loopback socket."""
    return f"{scheme}://127.0.0.1:{sock.getsockname()[1]}"


@contextmanager
def serve_config(
    config: uvicorn.Config, sock: socket.socket, scheme: str = "http", what: str = "server"
) -> Iterator[str]:
    """Run uvicorn with `config` on `sock` in a thread; yield its URL; stop it and close the
    socket on exit."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start")
            time.sleep(0.01)
        yield socket_url(sock, scheme)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
