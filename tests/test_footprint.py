"""How ``serve`` keeps its idle footprint small (#13), on the real processes.

``serve`` runs three processes: the supervisor, one web process that is gunicorn's worker
itself (no gunicorn master above it: ``web --single-process``), and the sync worker. The
figures are in BENCHMARKS.md ("Footprint"); these tests hold the structure and behaviour
that give them, not the figures (no timing or memory asserts).
"""

from __future__ import annotations

import signal
from pathlib import Path

import yaml

from tests.github.deliveries import Delivery
from tests.github.examples import branch_push
from tests.processes import spawn, wait_ready
from tests.test_serve import SECRET, Server
from webhook.settings import DeployerConfig, load_config


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


def command(pid: int) -> list[str]:
    """The process's arguments: NUL-separated, or one string once gunicorn has retitled the
    process (it does when ``setproctitle`` is installed, as mutmut installs it)."""
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().replace("\0", " ").split()


def test_serve_runs_a_web_process_without_a_gunicorn_master(tmp_path: Path) -> None:
    server = Server(tmp_path)
    server.start("serve")
    assert server.proc is not None
    try:
        below = children(server.proc.pid)
        roles = sorted(command(pid)[3] for pid in below)
        assert roles == ["web", "worker"]
        for pid in below:
            assert children(pid) == [], f"{command(pid)} has child processes"
        web = next(pid for pid in below if command(pid)[3] == "web")
        assert "--single-process" in command(web)
        # The web process itself answers: a delivery is accepted and queued.
        accepted = server.deliver(Delivery("push", branch_push(), SECRET))
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["jobs"]
    finally:
        code = server.kill(signal.SIGTERM)
    assert code == 0
    assert children(server.proc.pid) == []


def test_web_single_process_serves_and_drains_on_sigterm(tmp_path: Path) -> None:
    server = Server(tmp_path)
    server.log = open(tmp_path / "serve.log", "ab")  # noqa: SIM115
    server.proc = spawn(
        "web",
        server.config,
        server.port,
        server.env(),
        log=server.log,
        extra=["--single-process", "--threads", "2"],
    )
    wait_ready(server.url, server.proc, tmp_path / "serve.log")
    assert children(server.proc.pid) == []  # no gunicorn worker forked: it is the worker
    accepted = server.deliver(Delivery("push", branch_push(), SECRET))
    assert accepted.status_code == 202, accepted.text
    assert server.kill(signal.SIGTERM) == 0
    text = (tmp_path / "serve.log").read_text()
    assert "Listening at" in text  # gunicorn's own lines still logged


def test_the_packed_config_equals_the_validated_file(tmp_path: Path) -> None:
    """``load_config`` re-packs what it validated (fewer resident pages): nothing lost."""
    raw = {
        "apps": [
            {
                "name": f"app-{i}",
                "repo": "o/r",
                "path": f"apps/{i}",
                "namespace": f"app-{i}",
                "helm": {"values_files": ["v.yaml"]},
                "paths": ["shared/**"],
            }
            for i in range(3)
        ],
        "repos": {"o/r": {"clone_url": "file:///x"}},
        "resync_interval": 7,
    }
    path = tmp_path / "deployer.yaml"
    path.write_text(yaml.safe_dump(raw))
    loaded = load_config(path)
    assert loaded == DeployerConfig.model_validate(raw)
    assert loaded.app("app-2") is loaded.apps[2]
    assert loaded.clone_url("o/r") == "file:///x"
