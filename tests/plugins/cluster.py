"""pytest fixtures for a real Kubernetes control plane, started by scripts/test-cluster.

Mocks of the Kubernetes API hide what a deployer gets wrong (server-side apply conflicts,
dry-run, RBAC, CRDs not yet established, real rollouts), so cluster tests talk to a real
kube-apiserver + etcd (and, on request, controller-manager, scheduler and kwok fake nodes)
built from source by scripts/build-test-tools. Nothing here skips: a missing binary or a
control plane that does not start fails the test, in CI and locally alike.

The kubernetes client is imported inside the fixtures that use it: loading this plugin costs
a quick run (``-m "not cluster"``, one test file) none of its import time.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests
import yaml

if TYPE_CHECKING:
    from kubernetes import client

    from tests.audit import AuditLog

REPO = Path(__file__).resolve().parents[2]
BUILD_TOOLS = REPO / "scripts" / "build-test-tools"
TEST_CLUSTER = REPO / "scripts" / "test-cluster"
NODES = 2
# Fixtures that need what scripts/build-test-tools builds (a control plane, or only its
# helm and kustomize); tests using them get the `cluster` marker, so `-m "not cluster"`
# builds and starts nothing.
CLUSTER_FIXTURES = frozenset(
    {
        "tools",
        "control_plane",
        "control_plane_with_nodes",
        "kubeconfig",
        "namespace",
        "namespace_with_nodes",
        "k8s_api_client",
        "api_audit",
    }
)


@dataclass(frozen=True)
class ControlPlane:
    """A running control plane: its directory (logs, PIDs, certs), admin kubeconfig, binaries."""

    dir: Path
    kubeconfig: Path
    bin_dir: Path
    server: str


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cluster: needs what scripts/build-test-tools builds: a real Kubernetes control plane"
        " (scripts/test-cluster) or its helm and kustomize (the `tools` fixture)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a cluster fixture, so `-m 'not cluster'` selects the rest.

    The mark comes from the fixtures only: a `cluster` mark set by hand (a module's
    `pytestmark`) would drop the module's other tests from quick runs unseen, so it is refused.
    """
    for item in items:
        if CLUSTER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cluster)
        elif item.get_closest_marker("cluster") is not None:
            raise pytest.UsageError(
                f"{item.nodeid} is marked `cluster` but uses no cluster fixture: the mark "
                f"comes from the fixtures ({', '.join(sorted(CLUSTER_FIXTURES))}), remove it"
            )


def _run(argv: list[str], what: str, env: dict[str, str] | None = None) -> str:
    """Run a helper script; any failure fails the test (never a skip) with its stderr."""
    try:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    except OSError as e:
        pytest.fail(f"{what}: cannot run {argv[0]}: {e}", pytrace=False)
    if proc.returncode != 0:
        pytest.fail(
            f"{what} failed (exit {proc.returncode}): {' '.join(argv)}\n{proc.stderr[-6000:]}",
            pytrace=False,
        )
    return proc.stdout


def _bin_dir() -> Path:
    """The cached binaries ($TEST_CLUSTER_BIN, else scripts/build-test-tools, built if needed)."""
    override = os.environ.get("TEST_CLUSTER_BIN")
    if override:
        return Path(override)
    lines = _run([str(BUILD_TOOLS)], "scripts/build-test-tools").strip().splitlines()
    if not lines:
        pytest.fail("scripts/build-test-tools printed no bin directory", pytrace=False)
    return Path(lines[-1])


@pytest.fixture(scope="session")
def tools() -> Iterator[Path]:
    """Put helm, kustomize, kwok and kubectl first on PATH for the code under test.

    Yields the bin directory. Cheap when the binaries are cached (the script's fast path),
    but a first run builds them from source: hence not autouse, and tests that ask for it
    are marked `cluster`, so quick runs (`-m "not cluster"`) build nothing. Once asked for,
    PATH keeps the tools for the rest of the session.
    """
    bin_dir = _bin_dir()
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{old}"
    yield bin_dir
    os.environ["PATH"] = old


def _start(tmp_path_factory: pytest.TempPathFactory, bin_dir: Path, nodes: int) -> ControlPlane:
    d = tmp_path_factory.mktemp("nodes" if nodes else "control-plane")
    env = {**os.environ, "TEST_CLUSTER_BIN": str(bin_dir)}
    # --owner-pid: a watchdog stops the cluster if this pytest process dies without teardown.
    argv = [str(TEST_CLUSTER), "up", str(d), "--owner-pid", str(os.getpid())]
    if nodes:
        argv += ["--nodes", str(nodes)]
    _run(argv, f"scripts/test-cluster up (logs in {d})", env)
    server = (d / "server").read_text().strip()
    return ControlPlane(dir=d, kubeconfig=d / "kubeconfig", bin_dir=bin_dir, server=server)


def _stop(cp: ControlPlane) -> None:
    subprocess.run([str(TEST_CLUSTER), "down", str(cp.dir)], check=False)


#: A directory made by ``scripts/test-cluster up DIR`` that is already running: the
#: ``control_plane`` fixture uses it instead of starting its own, and leaves it running.
#: For runs of many short pytest sessions (``scripts/mutation execute``: mutmut forks one per
#: mutant) that would otherwise each start and stop a control plane.
REUSE_ENV = "TEST_CONTROL_PLANE_DIR"


def _reused(bin_dir: Path) -> ControlPlane | None:
    """The running control plane named by ``$TEST_CONTROL_PLANE_DIR``, checked to answer."""
    named = os.environ.get(REUSE_ENV)
    if not named:
        return None
    d = Path(named)
    server_file, kubeconfig = d / "server", d / "kubeconfig"
    if not server_file.is_file() or not kubeconfig.is_file():
        pytest.fail(f"{REUSE_ENV}={d}: no server or kubeconfig (not made by `up`?)", pytrace=False)
    server = server_file.read_text().strip()
    try:
        ready = requests.get(f"{server}/readyz", verify=str(d / "pki" / "ca.crt"), timeout=5)
    except requests.RequestException as e:
        pytest.fail(f"{REUSE_ENV}={d}: {server} does not answer: {e}", pytrace=False)
    if ready.status_code != 200:
        pytest.fail(f"{REUSE_ENV}={d}: /readyz is {ready.status_code}", pytrace=False)
    return ControlPlane(dir=d, kubeconfig=kubeconfig, bin_dir=bin_dir, server=server)


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory, tools: Path) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver (TLS, RBAC, SA keys), no nodes: for API-level tests; the one
    ``$TEST_CONTROL_PLANE_DIR`` names if set (started and stopped by whoever made it)."""
    reused = _reused(tools)
    if reused is not None:
        yield reused
        return
    cp = _start(tmp_path_factory, tools, 0)
    yield cp
    _stop(cp)


@pytest.fixture(scope="session")
def control_plane_with_nodes(
    tmp_path_factory: pytest.TempPathFactory, tools: Path
) -> Iterator[ControlPlane]:
    """Also controller-manager, scheduler and kwok with 2 fake nodes: Pods become Ready."""
    cp = _start(tmp_path_factory, tools, NODES)
    yield cp
    _stop(cp)


@pytest.fixture
def kubeconfig(control_plane: ControlPlane) -> Path:
    """Admin (system:masters) kubeconfig of `control_plane`, context `test-cluster`."""
    return control_plane.kubeconfig


@pytest.fixture
def api_audit(control_plane: ControlPlane) -> AuditLog:
    """The requests clients sent `control_plane`, from its audit log (tests/audit.py)."""
    from tests.audit import AuditLog

    return AuditLog(control_plane.dir / "audit.log", control_plane.kubeconfig)


@pytest.fixture
def k8s_api_client(kubeconfig: Path) -> Iterator[client.ApiClient]:
    """An admin ApiClient for `control_plane`, closed after the test."""
    from kubernetes import config

    api = config.new_client_from_config(config_file=str(kubeconfig))
    yield api
    api.close()


def _namespace(cp: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test; deleted afterwards without waiting."""
    from kubernetes import client, config

    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"t-{slug}-{uuid.uuid4().hex[:6]}"
    api = config.new_client_from_config(config_file=str(cp.kubeconfig))
    try:
        core = client.CoreV1Api(api)
        core.create_namespace(
            client.V1Namespace(
                metadata=client.V1ObjectMeta(
                    name=name,
                    labels={"webhook-deployer.test/namespace": "true"},
                    annotations={"webhook-deployer.test/nodeid": request.node.nodeid},
                )
            )
        )
        yield name
        try:
            core.delete_namespace(name, propagation_policy="Background")
        except client.ApiException as e:
            if e.status != 404:
                raise
    finally:
        api.close()


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, uniquely named Namespace on `control_plane`."""
    yield from _namespace(control_plane, request)


@pytest.fixture
def namespace_with_nodes(
    control_plane_with_nodes: ControlPlane, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A fresh, uniquely named Namespace on `control_plane_with_nodes`."""
    yield from _namespace(control_plane_with_nodes, request)


@dataclass
class ApiServer:
    """A kube-apiserver of one test's own, with the suite's flags and certificates, against
    the suite's etcd under its own ``--etcd-prefix`` (so it starts empty and shares nothing
    with other tests), on its own port. ``stop`` ends the process (its port refuses
    connections); ``start`` runs it again with the same flags, port and data."""

    dir: Path
    argv: list[str]
    port: int
    kubeconfig: Path
    ca: Path
    proc: subprocess.Popen[bytes] | None = field(default=None)

    @property
    def audit_log(self) -> Path:
        return self.dir / "audit.log"

    def start(self, timeout: float = 120) -> float:
        """Start and wait for ``/readyz``; the seconds it took."""
        started = time.monotonic()
        with open(self.dir / "kube-apiserver.log", "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        while time.monotonic() < started + timeout:
            if self.proc.poll() is not None:
                pytest.fail(f"kube-apiserver exited with {self.proc.returncode}; {self.dir}")
            try:
                ready = requests.get(
                    f"https://127.0.0.1:{self.port}/readyz", verify=str(self.ca), timeout=2
                )
                if ready.status_code == 200:
                    return time.monotonic() - started
            except requests.RequestException:
                pass
            time.sleep(0.1)
        pytest.fail(f"kube-apiserver not ready after {timeout:.0f} s; logs in {self.dir}")

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM, and wait until the process has exited (SIGKILL after ``timeout``)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)


def _die_with_parent() -> None:
    """In the child: SIGTERM when pytest dies, so a killed run leaves no API server behind
    (the suite's watchdog knows only the processes of scripts/test-cluster)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _own_flags(argv: list[str], port: int, d: Path) -> list[str]:
    """The suite's kube-apiserver command line, on ``port``, with its own etcd prefix and
    audit log in ``d``."""
    own = {
        "--secure-port": str(port),
        "--etcd-prefix": f"/registry-{uuid.uuid4().hex[:8]}",
        "--audit-log-path": str(d / "audit.log"),
    }
    out = [a for a in argv if a.split("=", 1)[0] not in own]
    return out + [f"{flag}={value}" for flag, value in own.items()]


@pytest.fixture
def own_api_server(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """A started kube-apiserver that only this test uses, so it may stop and start it."""
    pid = int((control_plane.dir / "kube-apiserver.pid").read_text())
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().rstrip("\0").split("\0")
    d = tmp_path_factory.mktemp("own-api-server")
    port = _free_port()
    kubeconfig = yaml.safe_load(control_plane.kubeconfig.read_text())
    for entry in kubeconfig["clusters"]:
        entry["cluster"]["server"] = f"https://127.0.0.1:{port}"
    (d / "kubeconfig").write_text(yaml.safe_dump(kubeconfig))
    server = ApiServer(
        d, _own_flags(argv, port, d), port, d / "kubeconfig", control_plane.dir / "pki" / "ca.crt"
    )
    server.start()
    yield server
    server.stop(timeout=10)
