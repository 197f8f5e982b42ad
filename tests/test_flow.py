"""The whole flow over real processes: a signed GitHub push to a real ``serve``, a real git
repo, and the real control plane. The push is GitHub's published example, pointed at our
repo's commit and re-signed.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import requests
import yaml
from kubernetes import client

from tests.github.deliveries import Delivery
from tests.github.examples import branch_push
from tests.gitops import cm, dump, make_gitops
from tests.processes import free_port, spawn, wait_ready

SECRET = b"flow secret"
REPO = "Codertocat/Hello-World"


def push_of(commit: str, files: list[str]) -> dict[str, Any]:
    payload = branch_push()
    payload.update(ref="refs/heads/main", after=commit, created=False)
    payload["commits"][0].update(id=commit, added=[], modified=files, removed=[])
    return payload


def test_a_signed_push_is_deployed_to_the_cluster_by_serve(
    tmp_path: Path, kubeconfig: Path, namespace: str, k8s_api_client: client.ApiClient
) -> None:
    ops = make_gitops(tmp_path, kubeconfig, namespace)
    sha = ops.commit({"apps/shop/app.yaml": dump(cm("settings", "v1"))})
    config = tmp_path / "deployer.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "resync_interval": 0,
                "apps": [
                    {
                        "name": "shop",
                        "repo": REPO,
                        "branch": "main",
                        "path": "apps/shop",
                        "namespace": namespace,
                    }
                ],
                "repos": {REPO: {"clone_url": f"file://{ops.origin}"}},
            }
        )
    )
    port = free_port()
    env = {
        "GITHUB_WEBHOOK_SECRET": SECRET.decode(),
        "KUBECONFIG": str(kubeconfig),
        "DEPLOYER_DATABASE_URL": f"sqlite:///{tmp_path / 'deployer.db'}",
        "DEPLOYER_CACHE_DIR": str(tmp_path / "cache"),
    }
    with open(tmp_path / "serve.log", "wb") as log:
        proc = spawn("serve", config, port, env, log=log)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, proc, tmp_path / "serve.log")

            def deploy(commit: str) -> dict[str, Any]:
                delivery = Delivery("push", push_of(commit, ["apps/shop/app.yaml"]), SECRET)
                answer = requests.post(
                    f"{url}/webhooks/github",
                    data=delivery.body,
                    headers=delivery.headers(),
                    timeout=10,
                )
                assert answer.status_code == 202, answer.text
                job_id = answer.json()["jobs"][0]["id"]
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    job: dict[str, Any] = requests.get(f"{url}/api/jobs/{job_id}", timeout=5).json()
                    if job["state"] not in ("queued", "running"):
                        return job
                    time.sleep(0.1)
                raise AssertionError((tmp_path / "serve.log").read_text()[-3000:])

            first = deploy(sha)
            assert first["state"] == "succeeded", first["message"]
            core = client.CoreV1Api(k8s_api_client)
            assert core.read_namespaced_config_map("settings", namespace).data == {"value": "v1"}

            second = deploy(ops.commit({"apps/shop/app.yaml": dump(cm("settings", "v2"))}))
            assert second["state"] == "succeeded", second["message"]
            assert second["result"]["configured"] == [f"ConfigMap {namespace}/settings"]
            assert core.read_namespaced_config_map("settings", namespace).data == {"value": "v2"}
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
