"""A loopback HTTP server that must receive nothing: proof that no request left the deployer.

Hostile repositories name ``http://127.0.0.1:<port>/...`` (and other forms) as remote
resources; the ``sinkhole`` fixture records every connection it accepts, so a test can
assert that none came. It answers like a real server (a ConfigMap) so that a tool which
does connect also succeeds, and the test sees the fetch rather than a network error.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

_BODY = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fetched\n"
_ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/yaml\r\nConnection: close\r\n"
    + f"Content-Length: {len(_BODY)}\r\n\r\n".encode()
    + _BODY
)


@dataclass
class Sinkhole:
    """A listening loopback socket; ``connections`` holds the first bytes of each one."""

    port: int
    connections: list[bytes] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _serve(server: socket.socket, hole: Sinkhole) -> None:
    while True:
        try:
            conn, _ = server.accept()
        except OSError:
            return  # closed at teardown
        with conn:
            conn.settimeout(2)
            try:
                hole.connections.append(conn.recv(4096))
                conn.sendall(_ANSWER)
            except OSError:
                hole.connections.append(b"")


@pytest.fixture
def sinkhole() -> Iterator[Sinkhole]:
    """A loopback server on a free port that records every connection made to it."""
    server = socket.create_server(("127.0.0.1", 0))
    hole = Sinkhole(port=server.getsockname()[1])
    thread = threading.Thread(target=_serve, args=(server, hole), daemon=True)
    thread.start()
    yield hole
    with contextlib.suppress(OSError):
        server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
    server.close()
    thread.join(timeout=5)
