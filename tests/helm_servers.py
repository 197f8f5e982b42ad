"""A Helm chart repository and an OCI registry on loopback, for the chart-fetching tests.

The chart repository is Python's http.server over a folder that ``helm package`` and
``helm repo index`` filled, with optional basic auth and a log of the paths requested.
The registry is go-containerregistry's ``registry`` (scripts/build-test-registry), charts
pushed into it by ``helm push``: the real OCI distribution protocol, no auth.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


_HOME = tempfile.TemporaryDirectory(prefix="helm-test-home-")


def helm(*args: str, cwd: Path | None = None) -> str:
    """Run helm from PATH (the ``tools`` fixture puts it there) with a private home."""
    home = Path(_HOME.name)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    done = subprocess.run(
        ["helm", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def package(chart: Path, into: Path) -> Path:
    """``helm package`` the chart folder into ``into``; the .tgz."""
    into.mkdir(parents=True, exist_ok=True)
    out = helm("package", str(chart), "--destination", str(into))
    return Path(out.strip().rsplit(": ", 1)[-1])


def simple_chart(folder: Path, name: str, version: str, template: str) -> Path:
    (folder / "templates").mkdir(parents=True)
    (folder / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: {version}\n")
    (folder / "values.yaml").write_text("colour: blue\n")
    (folder / "templates" / "cm.yaml").write_text(template)
    return folder


@dataclass
class ChartRepo:
    url: str
    folder: Path
    requests: list[str] = field(default_factory=list)
    auth_headers: list[str | None] = field(default_factory=list)
    #: (path, status) of every answer: a 304 to a conditional request shows here.
    answers: list[tuple[str, int]] = field(default_factory=list)


@contextmanager
def chart_repo(folder: Path, credentials: tuple[str, str] | None = None) -> Iterator[ChartRepo]:
    """Serve ``folder`` (``helm repo index`` run on it here) on 127.0.0.1."""
    folder.mkdir(parents=True, exist_ok=True)
    repo = ChartRepo("", folder)
    expected = None
    if credentials:
        expected = "Basic " + base64.b64encode(":".join(credentials).encode()).decode()

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            repo.requests.append(self.path)
            repo.auth_headers.append(self.headers.get("Authorization"))
            if expected and self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="charts"')
                self.end_headers()
                return
            super().do_GET()

        def send_response(self, code: int, message: str | None = None) -> None:
            repo.answers.append((self.path, code))
            super().send_response(code, message)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
    repo.url = f"http://127.0.0.1:{server.server_address[1]}/charts"
    real = folder / "charts"
    real.mkdir(exist_ok=True)
    for tgz in list(folder.glob("*.tgz")):
        shutil.move(tgz, real / tgz.name)
    helm("repo", "index", str(real), "--url", repo.url)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield repo
    finally:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def oci_registry() -> Iterator[str]:
    """go-containerregistry's registry on a free port: yields ``127.0.0.1:<port>``."""
    found = subprocess.run(
        [str(REPO / "scripts" / "build-test-registry")],
        capture_output=True,
        text=True,
        check=True,
    )
    binary = Path(found.stdout.strip().splitlines()[-1]) / "registry"
    port = _free_port()
    proc = subprocess.Popen(
        [str(binary), "-port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass
class TokenFront:
    url: str
    token_requests: list[str | None] = field(default_factory=list)
    registry_auth: list[str | None] = field(default_factory=list)


@contextmanager
def token_front(registry: str, credentials: tuple[str, str]) -> Iterator[TokenFront]:
    """The bearer-token flow of Azure Container Registry and Docker Hub in front of the real
    registry: /v2/ answers 401 with a ``Bearer realm=…/token`` challenge; /token trades basic
    credentials for a token; requests with that token are passed to ``registry``. Written
    here because no token service can run on this machine; the registry behind it is real."""
    import requests

    front = TokenFront("")
    basic = "Basic " + base64.b64encode(":".join(credentials).encode()).decode()
    token = "tok-" + base64.b16encode(os.urandom(8)).decode()

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            auth = self.headers.get("Authorization")
            if self.path.startswith("/token"):
                front.token_requests.append(auth)
                body = b'{"token": "%s"}' % token.encode() if auth == basic else b"{}"
                self.send_response(200 if auth == basic else 401)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)
                return
            front.registry_auth.append(auth)
            if auth != f"Bearer {token}":
                self.send_response(401)
                challenge = f'Bearer realm="{front.url}/token",service="front",scope="pull"'
                self.send_header("WWW-Authenticate", challenge)
                self.end_headers()
                return
            answer = requests.get(
                f"http://{registry}{self.path}",
                headers={"Accept": self.headers.get("Accept", "*/*")},
                timeout=10,
            )
            self.send_response(answer.status_code)
            self.send_header("Content-Type", answer.headers.get("Content-Type", ""))
            self.end_headers()
            self.wfile.write(answer.content)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    front.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield front
    finally:
        server.shutdown()
        server.server_close()
