"""A private git repository over HTTPS, as GitHub serves one: git's own smart-HTTP server
(``git http-backend``, as CGI) behind a small Python TLS server on loopback that wants
basic auth (``x-access-token:<token>``, the form the deployer sends) and refuses anonymous
or wrong credentials with a 401, as GitHub does. The certificate is self-signed, made with
``openssl`` for 127.0.0.1; git trusts it through ``GIT_SSL_CAINFO``.
"""

from __future__ import annotations

import base64
import os
import ssl
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

#: The (certificate, key) PEM bytes ``self_signed`` made first in this process.
_MADE: list[tuple[bytes, bytes]] = []


def self_signed(folder: Path) -> tuple[Path, Path]:
    """(certificate, key) for ``127.0.0.1``, valid for a day, written to ``folder``. Made
    once per test process (openssl's RSA key is 0.2-0.7 s of CPU) and copied after that:
    each test still trusts only the files in its own folder."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    if _MADE:
        cert.write_bytes(_MADE[0][0])
        key.write_bytes(_MADE[0][1])
        return cert, key
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    _MADE.append((cert.read_bytes(), key.read_bytes()))
    return cert, key


@dataclass
class GitHttpsServer:
    """Serves every bare repository under ``root`` at ``url/<name>.git``.

    ``accepts(token)`` decides whether a token may read; every request is recorded in
    ``seen`` as (method, path, status, username) — never the password.
    """

    root: Path
    cert: Path
    key: Path
    accepts: Callable[[str], bool]
    seen: list[tuple[str, str, int, str]] = field(default_factory=list)
    #: (path, bytes of the answer's body) per served request: what a fetch downloaded.
    sent: list[tuple[str, int]] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server._serve(self)

            def do_POST(self) -> None:
                server._serve(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        self._http.socket = context.wrap_socket(self._http.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._http.server_port}"
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(5)

    def _user(self, header: str | None) -> tuple[str, bool]:
        """(username, allowed) from a basic ``Authorization`` header."""
        scheme, _, encoded = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return "", False
        try:
            user, _, token = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return "", False
        return user, bool(token) and self.accepts(token)

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        path, _, query = request.path.partition("?")
        user, allowed = self._user(request.headers.get("Authorization"))
        if not allowed:
            self.seen.append((request.command, path, 401, user))
            request.send_response(401)
            request.send_header("WWW-Authenticate", 'Basic realm="GitHub"')
            request.send_header("Content-Length", "0")
            request.end_headers()
            return
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        env = {
            "PATH": os.environ.get("PATH", ""),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": request.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": request.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": request.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": request.headers.get("Git-Protocol", ""),
            "REMOTE_USER": user,
            "REMOTE_ADDR": "127.0.0.1",
        }
        proc = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        head, _, payload = proc.stdout.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.seen.append((request.command, path, status, user))
        self.sent.append((path, len(payload)))
        request.send_response(status)
        for name, value in headers:
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)
