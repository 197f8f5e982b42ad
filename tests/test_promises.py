"""README promises that had no test of their own: each one here, against the real part."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.audit import AuditLog
from tests.github.deliveries import Delivery
from tests.github.examples import branch_push
from tests.gitops import cm, dump, make_gitops, service, sync_on_a_dead_cluster
from tests.test_serve import SECRET, Server
from webhook.model import JobState
from webhook.queue import open_store
from webhook.render import RenderError, kustomize
from webhook.settings import DeployerConfig, Environment
from webhook.web import create_app


def test_readyz_is_503_once_the_store_is_unreachable(
    postgres_server: str, config: DeployerConfig, env: Environment
) -> None:
    name = "readyz_gone"
    with psycopg.connect(postgres_server.format(db="postgres"), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
        store = open_store(postgres_server.format(db=name))
        client = create_app(config, env, store).test_client()
        assert client.get("/readyz").status_code == 200
        # The database goes away under the running app: its connection is cut too.
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")  # type: ignore[arg-type]
        for _ in range(2):  # the broken connection, then a reconnect that fails
            answer = client.get("/readyz")
            assert answer.status_code == 503
            assert answer.get_json()["status"] == "unavailable"
    store.close()


def _exec_plugin(tmp_path: Path, script: str) -> Path:
    path = tmp_path / "plugin"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_a_failing_kubeconfig_exec_plugin_is_reported_not_a_traceback(tmp_path: Path) -> None:
    """An exec plugin (AKS's kubelogin, say) that fails: the kubernetes client only logs it,
    so the deployer must say so itself, as a failed sync, not an internal error."""
    plugin = _exec_plugin(tmp_path, 'echo "login expired: run kubelogin" >&2\nexit 1')
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin)}}
    outcome = sync_on_a_dead_cluster(tmp_path, user)
    assert outcome.state is JobState.FAILED
    assert outcome.result["error_kind"] == "infrastructure"
    assert "no credentials (did its exec plugin fail?)" in outcome.message
    assert "Traceback" not in outcome.message and "internal error" not in outcome.message


EXEC_FUNCTION = """\
apiVersion: example.com/v1
kind: Evil
metadata:
  name: run
  annotations:
    config.kubernetes.io/function: |
      exec:
        path: {plugin}
"""


@pytest.mark.usefixtures("tools")
def test_kustomize_runs_without_exec_plugins_even_past_the_pre_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pre-check refuses KRM functions (test_hostile_render); behind it, kustomize
    itself runs without --enable-alpha-plugins/--enable-exec, so an exec function that got
    past the check still never runs."""
    ran = tmp_path / "ran"
    plugin = _exec_plugin(tmp_path, f"touch {ran}\ncat")
    app = tmp_path / "app"
    app.mkdir()
    (app / "cm.yaml").write_text(json.dumps(cm("a")))
    (app / "fn.yaml").write_text(EXEC_FUNCTION.format(plugin=plugin))
    (app / "kustomization.yaml").write_text("resources: [cm.yaml]\ntransformers: [fn.yaml]\n")
    # The threat is real: kustomize with exec plugins enabled runs the repository's program.
    enabled = ["kustomize", "build", "--enable-alpha-plugins", "--enable-exec", str(app)]
    subprocess.run(enabled, capture_output=True, check=True)
    assert ran.exists()
    ran.unlink()
    monkeypatch.setattr(kustomize, "check_kustomizations", lambda *a, **k: None)
    with pytest.raises(RenderError, match="`kustomize` failed"):
        kustomize.render_kustomize(app, "apps/x", boundary=tmp_path)
    assert not ran.exists(), "kustomize ran the repository's exec plugin"


def test_prune_deletes_in_reverse_apply_order(
    tmp_path: Path, kubeconfig: Path, namespace: str, api_audit: AuditLog
) -> None:
    """What was applied first (a ServiceAccount, then a Role, ...) is deleted last, as the
    API server saw the requests."""
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "r"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
    }
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa"}}
    ops = make_gitops(tmp_path, kubeconfig, namespace)
    # Listed against the apply order, so neither order is the file's.
    files = {"apps/shop/all.yaml": dump(service("s"), cm("c"), role, account, cm("keep"))}
    mark = api_audit.mark()
    assert ops.sync(ops.commit(files), prune=True).ok
    applied = [(r.resource, r.name) for r in api_audit.since(mark) if r.write]
    mark = api_audit.mark()
    result = ops.sync(ops.commit({"apps/shop/all.yaml": dump(cm("keep"))}), prune=True)
    assert result.ok, result.error
    deleted = [(r.resource, r.name) for r in api_audit.since(mark) if r.verb == "delete"]
    gone = [("serviceaccounts", "sa"), ("roles", "r"), ("configmaps", "c"), ("services", "s")]
    assert [ref for ref in applied if ref in gone] == gone
    assert deleted == gone[::-1]


def test_the_web_and_worker_commands_each_do_their_half(tmp_path: Path) -> None:
    """``web`` alone accepts and queues but runs nothing; ``worker`` alone, on the same
    database, runs what is queued and stops cleanly on SIGTERM."""
    web = Server(tmp_path)
    web.start("web")
    try:
        accepted = web.deliver(Delivery("push", branch_push(), SECRET))
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["jobs"][0]["id"]
        time.sleep(1.0)  # long enough for a worker, had the web process started one
        assert web.get(f"/api/jobs/{job_id}")["state"] == "queued"
        log = (tmp_path / "worker.log").open("ab")
        worker = subprocess.Popen(
            [sys.executable, "-m", "webhook.cli", "worker", "--config", str(web.config)],
            env={**os.environ, **web.env(), "DEPLOYER_RETRY_SECONDS": "0.01"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while web.get(f"/api/jobs/{job_id}")["state"] in ("queued", "running"):
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.1)
        # No cluster is reachable: the real sync step ran and recorded why it failed.
        job = web.get(f"/api/jobs/{job_id}")
        assert job["state"] == "failed" and job["message"].startswith("infrastructure: ")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
        log.close()
    finally:
        web.kill(signal.SIGTERM)
