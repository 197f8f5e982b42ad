"""A doorbell between the processes of one host that share a store: whoever queues a job
rings, and a worker waiting for work wakes at once instead of at its next poll.

The worker polls the store every ``poll_interval`` (0.1 s): half of that, on average, was
added to every merge's way to green. Owns: a Linux abstract unix datagram socket (no file to
clean up, no path-length limit) named after the store, rung without blocking and never
failing: a ring nobody hears only loses the shortcut, since the worker still polls. Any
local process may ring; all a ring can do is make a worker look at the queue early.
Must not touch: the store's rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import socket
import threading
from urllib.parse import urlsplit, urlunsplit

log = logging.getLogger(__name__)


def location_of(url_or_path: str) -> str:
    """What names a store for its doorbell: a PostgreSQL URL without its credentials (they
    may rotate; the database stays the same), or an SQLite file's path."""
    if "://" not in url_or_path:
        return url_or_path
    parts = urlsplit(url_or_path)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


class Doorbell:
    def __init__(self, location: str) -> None:
        digest = hashlib.sha256(location.encode()).hexdigest()[:40]
        self.address = b"\0webhook-deployer-" + digest.encode()

    def ring(self) -> None:
        """Tell a listening worker that there is work; never blocks, never raises."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.setblocking(False)
                sock.sendto(b"!", self.address)
        except OSError:  # nobody listens, its buffer is full, or no abstract sockets here
            pass

    def listen(self, heard: threading.Event) -> bool:
        """Set ``heard`` on every ring, from a daemon thread. False when this host cannot
        (another process of the same store listens already, or no abstract sockets): the
        worker then relies on its polling alone."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(self.address)
        except OSError as exc:
            sock.close()
            log.info("no doorbell for this worker (%s): it polls the store", exc)
            return False

        def serve() -> None:
            with contextlib.closing(sock):
                while True:
                    try:
                        sock.recv(16)
                    except OSError:
                        return
                    heard.set()

        threading.Thread(target=serve, name="doorbell", daemon=True).start()
        return True
