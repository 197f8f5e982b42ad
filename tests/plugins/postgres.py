"""A real PostgreSQL server for the queue tests, started from Debian's binaries in a tmp dir.

Session-scoped; each test gets a fresh database, dropped after it. A missing server binary
fails the tests (``scripts/setup`` installs it); it is never skipped. ``$TEST_POSTGRES_URL``
names a server that is already running, which the session then uses instead of starting its
own; this module also starts and stops one for that (``python -m tests.plugins.postgres
up|down DIR``).

The data directory lives in memory (``/dev/shm``) where there is one: on this machine's
disk (ext4 mounted with ``discard``) removing a data directory of a database per test took
a minute at the end of every run, and each ``CREATE DATABASE`` 0.4 s instead of 0.17 s.
Dropping each database after its test keeps that directory near its initial 40-50 MB.
Durability is not what these servers test (they run with ``fsync=off``), and a killed
server loses nothing either way: its pages are in the kernel's cache, in memory or not.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        pytest.fail(f"PostgreSQL's {name} is not installed (scripts/setup installs it)")
    return found[-1]


#: ``/dev/shm`` is used only with this much free (a container's default is 64 MB).
SHM_NEEDED = 1024**3


def _scratch() -> str | None:
    """Where a server's directory goes: ``/dev/shm`` when writable with room, else the temp
    dir."""
    shm = "/dev/shm"
    if not (os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK)):
        return None
    return shm if shutil.disk_usage(shm).free >= SHM_NEEDED else None


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the ``postgres`` user when we are root."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class PostgresInstance:
    """A throwaway server in its own directory, on a fixed port and socket: a test can stop
    it (a real shutdown: the postmaster exits, its socket goes away) and start it again on
    the same data directory and port."""

    def __init__(self, root: Path | None = None) -> None:
        # Not under pytest's tmp dir: that is private to root, and the server runs as postgres.
        self.root = root or Path(tempfile.mkdtemp(prefix="deployer-pg-", dir=_scratch()))
        self.data, self.sock = self.root / "data", self.root / "sock"
        self.sock.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.sock, "postgres")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        initdb = [_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust"]
        subprocess.run(_as_postgres([*initdb, "-E", "UTF8"]), check=True, capture_output=True)
        #: A libpq URL template with ``{db}`` for the database.
        self.server = f"postgresql://postgres@/{{db}}?host={self.sock}&port={self.port}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sock} -c listen_addresses='' -c fsync=off"
        log = str(self.root / "server.log")
        start = [_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-l", log, "start"]
        subprocess.run(_as_postgres(start), check=True, capture_output=True)

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m MODE``, waiting until the server is down."""
        stop = [_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"]
        subprocess.run(_as_postgres(stop), capture_output=True)

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def running_postgres() -> Iterator[str]:
    """Start a throwaway server; yields a libpq URL template with ``{db}`` for the database."""
    with postgres_instance() as instance:
        yield instance.server


@contextmanager
def postgres_instance() -> Iterator[PostgresInstance]:
    """A started ``PostgresInstance``, removed afterwards."""
    instance = PostgresInstance()
    try:
        instance.start()
        yield instance
    finally:
        instance.close()


def create_database(server: str) -> str:
    """A fresh, empty database on ``server``; its URL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.format(db="postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    return server.format(db=name)


#: A libpq URL template with ``{db}`` (as ``up`` below prints it) of a server that is already
#: running: ``postgres_server`` uses it instead of starting its own, and leaves it running;
#: each test still gets its own fresh database. For runs of many short pytest sessions
#: (``scripts/mutation store``: mutmut forks one per mutant) that would otherwise each run
#: initdb and start a server.
REUSE_ENV = "TEST_POSTGRES_URL"


def _reused() -> str | None:
    """The running server ``$TEST_POSTGRES_URL`` names, checked to answer."""
    named = os.environ.get(REUSE_ENV)
    if not named:
        return None
    if "{db}" not in named:
        pytest.fail(f"{REUSE_ENV}={named}: no {{db}} in the URL template", pytrace=False)
    import psycopg

    try:
        with psycopg.connect(named.format(db="postgres"), connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as e:
        pytest.fail(f"{REUSE_ENV}={named}: the server does not answer: {e}", pytrace=False)
    return named


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A running server for the session: the one ``$TEST_POSTGRES_URL`` names, if set."""
    reused = _reused()
    if reused is not None:
        yield reused
        return
    with running_postgres() as server:
        yield server


def drop_database(server: str, url: str) -> None:
    """Drop ``url``'s database on ``server``, closing whatever connections a test left."""
    import psycopg

    name = url.split("?", 1)[0].rsplit("/", 1)[-1]
    with psycopg.connect(server.format(db="postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped after the test."""
    url = create_database(postgres_server)
    yield url
    drop_database(postgres_server, url)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new store's URL, once an SQLite file and once a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'deployer.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def main(argv: list[str]) -> int:
    """``up DIR``: start a server in the new, empty DIR and print its URL template (also in
    ``DIR/url``); ``down DIR``: stop it. For ``$TEST_POSTGRES_URL``."""
    if len(argv) != 2 or argv[0] not in ("up", "down"):
        print("usage: python -m tests.plugins.postgres up|down DIR", file=sys.stderr)
        return 2
    root = Path(argv[1])
    if argv[0] == "down":
        stop = [_bin("pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "-w", "stop"]
        subprocess.run(_as_postgres(stop), capture_output=True)
        return 0
    instance = PostgresInstance(root)
    instance.start()
    (root / "url").write_text(instance.server + "\n")
    print(instance.server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
