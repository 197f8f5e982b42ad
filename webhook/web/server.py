"""The web layer's gunicorn server, with a worker that slow clients cannot exhaust.

gunicorn's threaded worker gives a connection a thread once its first byte arrives, and the
thread then blocks until the request is complete: a few clients sending a byte a second
hold every thread, and ``/healthz`` stops answering. ``BufferingWorker`` reads each
request in its event loop, holding no thread, until the headers and the body (up to the
delivery limit, chunked or not) are in memory; a request still incomplete after
``request_timeout`` is answered 408 and closed. Threads only get requests they can answer
at once. Outside ``webhook-deployer web`` run it with ``gunicorn --worker-class
webhook.web.server.BufferingWorker webhook.wsgi:app``. Under ``serve`` the worker runs
without gunicorn's master (``run_without_master``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import selectors
import socket
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import TConn, ThreadWorker

from webhook import logs, memory, telemetry
from webhook.settings import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_REQUEST_TIMEOUT,
    DeployerConfig,
    Environment,
)
from webhook.text import cut

#: A request line and headers larger than this are handed on for gunicorn to refuse (its
#: own limits are 4094 bytes per line, 100 fields of 8190 bytes).
HEADER_LIMIT = 1024 * 1024
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_TOO_SLOW = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


def _too_large(limit: int) -> bytes:
    """The receiver's own 413, sent before a thread is taken (or the body read)."""
    body = b'{"error": "body over %d bytes"}' % limit
    return (
        b"HTTP/1.1 413 Content Too Large\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )


@dataclass
class _Arriving:
    """A request being read: its bytes so far and how far its framing is understood."""

    deadline: float
    data: bytearray = field(default_factory=bytearray)
    body_start: int = -1
    #: Chunked bodies: offset of the next chunk-size line, and body bytes seen so far.
    next_chunk: int = -1
    decoded: int = 0
    continued: bool = False


class BufferingWorker(ThreadWorker):  # type: ignore[misc]
    """gthread, but a thread is taken only once the whole request has arrived."""

    max_body_bytes = DEFAULT_MAX_BODY_BYTES
    request_timeout = DEFAULT_REQUEST_TIMEOUT

    def init_process(self) -> None:
        self.max_body_bytes = getattr(self.app, "max_body_bytes", self.max_body_bytes)
        self.request_timeout = getattr(self.app, "request_timeout", self.request_timeout)
        self._arriving: dict[TConn, _Arriving] = {}
        super().init_process()

    def accept(self, listener: socket.socket) -> None:
        try:
            sock, addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        self._read_request(TConn(self.cfg, sock, addr, listener.getsockname()))

    def on_client_socket_readable(self, conn: TConn, client: socket.socket) -> None:
        """A kept-alive connection's next request is read the same way as a first one."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._read_request(conn)

    def _read_request(self, conn: TConn) -> None:
        if self.cfg.is_ssl or negotiation.prior_knowledge_allowed(self.cfg, conn.client):
            self.enqueue_req(conn)  # TLS and HTTP/2 keep gunicorn's own path
            return
        conn.sock.setblocking(False)
        self._arriving[conn] = _Arriving(deadline=time.monotonic() + self.request_timeout)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))

    def _on_readable(self, conn: TConn, sock: socket.socket) -> None:
        arriving = self._arriving[conn]
        try:
            data = sock.recv(256 * 1024)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        arriving.data += data
        state = self._progress(arriving, sock)
        if state == "too large":
            # Refused before the receiver sees it: counted here, as the receiver would.
            telemetry.DELIVERIES.labels(event="unverified", outcome="too_large").inc()
            self._drop(conn, _too_large(self.max_body_bytes))
        elif state == "complete":
            self.poller.unregister(sock)
            del self._arriving[conn]
            conn.init()  # the HTTP/1 parser; no TLS or HTTP/2 reaches here
            conn.parser.unreader.unread(bytes(arriving.data))
            conn.data_ready = True
            self.enqueue_req(conn)

    def _progress(self, arriving: _Arriving, sock: socket.socket) -> str:
        """``complete`` (a thread can answer it now), ``too large`` or ``waiting``."""
        data = arriving.data
        if arriving.body_start < 0:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                return "complete" if len(data) > HEADER_LIMIT else "waiting"
            arriving.body_start = end + 4
            fields = _fields(bytes(data[:end]))
            if b"100-continue" in fields.get(b"expect", b""):
                with contextlib.suppress(OSError):
                    sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            if b"chunked" in fields.get(b"transfer-encoding", b""):
                arriving.next_chunk = arriving.body_start
            else:
                try:
                    length = int(fields.get(b"content-length", b"0"))
                except ValueError:
                    return "complete"  # gunicorn answers 400
                if length > self.max_body_bytes:
                    return "too large"  # answered now: a slow sender holds no thread
                arriving.decoded = length
        if arriving.next_chunk < 0:
            return "complete" if len(data) - arriving.body_start >= arriving.decoded else "waiting"
        return self._chunks(arriving)

    def _chunks(self, arriving: _Arriving) -> str:
        """Walk the chunk-size lines that have arrived, never rescanning chunk data."""
        data = arriving.data
        while True:
            eol = data.find(b"\r\n", arriving.next_chunk)
            if eol < 0:
                return "complete" if len(data) - arriving.next_chunk > 1024 else "waiting"
            size_text = bytes(data[arriving.next_chunk : eol]).split(b";")[0].strip()
            if not _HEX.fullmatch(size_text):
                return "complete"  # gunicorn answers 400
            size = int(size_text, 16)
            if size == 0:
                return "complete" if data.find(b"\r\n\r\n", eol) >= 0 else "waiting"
            arriving.decoded += size
            if arriving.decoded > self.max_body_bytes:
                return "too large"
            arriving.next_chunk = eol + 2 + size + 2
            if arriving.next_chunk > len(data):
                return "waiting"

    def _drop(self, conn: TConn, answer: bytes = b"") -> None:
        self._arriving.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)
        if answer:
            with contextlib.suppress(OSError):
                conn.sock.send(answer)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        for conn in [c for c, a in self._arriving.items() if a.deadline <= now]:
            self._drop(conn, _TOO_SLOW)


def _fields(head: bytes) -> dict[bytes, bytes]:
    """Header fields of a request head, names lower-cased; repeated fields joined by commas."""
    fields: dict[bytes, bytes] = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        fields[key] = (
            fields[key] + b"," + value.strip().lower() if key in fields else value.strip().lower()
        )
    return fields


#: How much of a request's own header an access line keeps: anyone may send 8 KB of it,
#: and every request writes a line.
ACCESS_FIELD_CHARS = 200


def _cut(value: str | None) -> str | None:
    return cut(value, ACCESS_FIELD_CHARS) if value is not None else None


class DeployerLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's own lines in the deployer's format; one access line per request with its
    fields apart (never the query string, credentials or any other header but the
    delivery id, so no token reaches the log)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in (*self.error_log.handlers, *self.access_log.handlers):
            handler.setFormatter(logs.formatter())

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not getattr(self, "access_log_enabled", self.cfg.accesslog):  # gunicorn < 24
            return
        status = str(resp.status).split(None, 1)[0]
        method, path = environ.get("REQUEST_METHOD", "-"), environ.get("PATH_INFO", "-")
        fields = {
            "method": method,
            "path": path,
            "status": int(status) if status.isdigit() else status,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "remote": environ.get("REMOTE_ADDR", "-"),
            "user_agent": cut(environ.get("HTTP_USER_AGENT", "-"), ACCESS_FIELD_CHARS),
            "delivery": _cut(environ.get("HTTP_X_GITHUB_DELIVERY")),
        }
        extra = {k: v for k, v in fields.items() if v is not None}
        self.access_log.info("%s %s %s", method, path, status, extra=extra)


def serve(
    config: DeployerConfig,
    env: Environment,
    *,
    bind: str,
    workers: int,
    threads: int,
    single_process: bool = False,
) -> None:
    """Run the web app under gunicorn with ``BufferingWorker`` until a signal stops it.

    ``single_process``: the one worker runs in this process, without gunicorn's master
    (see ``run_without_master``)."""
    from webhook.web.app import create_app

    class Server(BaseApplication):  # type: ignore[misc]
        max_body_bytes = env.max_body_bytes
        request_timeout = env.request_timeout

        def load_config(self) -> None:
            self.cfg.set("bind", [bind])
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", f"{__name__}.BufferingWorker")
            self.cfg.set("graceful_timeout", 20)
            self.cfg.set("accesslog", "-")
            self.cfg.set("logger_class", f"{__name__}.DeployerLogger")
            self.cfg.set("loglevel", env.log_level.lower())

        def load(self) -> Any:
            app = create_app(config, env)
            memory.release()  # what start-up freed: this process idles from here
            return app

    server = Server()
    if single_process:
        run_without_master(server)
    else:
        server.run()


def run_without_master(server: BaseApplication) -> None:
    """Run one ``BufferingWorker`` in this process, with no gunicorn master above it.

    For a parent that already supervises this process (``serve``'s ``webhook.supervise``):
    the master would only watch one worker that its parent watches too, for about 24 MB
    resident (Python, gunicorn, OpenSSL) and a second copy of everything the app loads
    (BENCHMARKS.md, "Footprint"). The worker does what it does under the master: SIGTERM
    drains it (``graceful_timeout``), and it stops if its parent dies. What the master
    would add is left to the parent: a worker that exits is not restarted (this process
    exits and ``serve`` stops), and no one kills an event loop hung for gunicorn's
    ``timeout`` (the readiness and liveness probes of ``/healthz`` still see it).
    """
    from gunicorn import sock

    cfg, log = server.cfg, server.cfg.logger_class(server.cfg)
    log.info("Starting gunicorn's worker without a master (pid: %s)", os.getpid())
    listeners = sock.create_sockets(cfg, log)
    for listener in listeners:
        log.info("Listening at: %s (%s)", listener, os.getpid())
    worker = cfg.worker_class(0, os.getppid(), listeners, server, cfg.timeout / 2.0, cfg, log)
    worker.pid = os.getpid()
    try:
        worker.init_process()  # returns once SIGTERM's drain is done (sockets closed)
    finally:
        worker.tmp.close()
