"""Sync benchmark: our engine against ``kubectl apply --server-side`` (kube-applier's way),
side by side on one real control plane with fake nodes, app by app, interleaved.

Each app is a Namespace, a ConfigMap, a Secret, a Service and a 2-replica Deployment. For
each phase and each app, the engine syncs app i (render, guard, dry run, ordered apply,
health wait) and then kubectl applies the same manifests for its twin app i and waits with
``kubectl rollout status``: the same end state, "applied and healthy".

    .venv/bin/python -m bench.sync [--apps N]

Phases: first deploy; a no-op resync of the same commit (we make no writes; kubectl applies
anyway); a change to every app (ConfigMap value and a pod template annotation).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

from bench.cluster import ROOT, running_cluster
from tests.gitrepo import commit, git, init
from webhook.engine import SyncEngine
from webhook.settings import AppConfig, DeployerConfig, Environment, RepoConfig


def manifests(
    ns: str, version: int, *, replicas: int = 2, secret: bool = True
) -> list[dict[str, Any]]:
    """One app: Namespace, ConfigMap, Secret (unless ``secret`` is off), Service and a
    Deployment of ``replicas``."""
    labels = {"app": "web"}
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": ns},
            "data": {"version": str(version)},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds", "namespace": ns},
            "stringData": {"password": "not-a-real-one"},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels, "annotations": {"version": str(version)}},
                    "spec": {"containers": [{"name": "web", "image": "registry.example/web:1"}]},
                },
            },
        },
    ]
    objects[-1]["spec"]["replicas"] = replicas
    return [o for o in objects if secret or o["kind"] != "Secret"]


def write_version(repo: Path, apps: int, version: int) -> str:
    files = {
        f"apps/{prefix}-{i}/app.yaml": yaml.safe_dump_all(manifests(f"{prefix}-{i}", version))
        for i in range(apps)
        for prefix in ("engine", "kubectl")
    }
    return commit(repo, files, f"v{version}")


def resource_versions(api: client.ApiClient, apps: int, prefix: str) -> list[str]:
    core, appsv1 = client.CoreV1Api(api), client.AppsV1Api(api)
    out = []
    for i in range(apps):
        ns = f"{prefix}-{i}"
        out += [
            core.read_namespaced_config_map("settings", ns).metadata.resource_version,
            core.read_namespaced_secret("creds", ns).metadata.resource_version,
            core.read_namespaced_service("web", ns).metadata.resource_version,
            appsv1.read_namespaced_deployment("web", ns).metadata.resource_version,
        ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=30)
    n = parser.parse_args().apps
    bin_dir = (
        subprocess.run(
            [str(ROOT / "scripts/build-test-tools")], check=True, capture_output=True, text=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    kubectl = str(Path(bin_dir) / "kubectl")
    work = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    stack = ExitStack()
    kubeconfig = stack.enter_context(running_cluster(work / "cluster", nodes=2))
    try:
        repo = init(work / "repo")
        apps = tuple(
            AppConfig(
                name=f"engine-{i}",
                repo="bench/gitops",
                path=f"apps/engine-{i}",
                namespace=f"engine-{i}",
                # Each app creates its own Namespace: a cluster-scoped kind it must be allowed.
                allowed_cluster_kinds=("Namespace",),
            )
            for i in range(n)
        )
        engine = SyncEngine(
            DeployerConfig(
                apps=apps, repos={"bench/gitops": RepoConfig(clone_url=f"file://{repo}")}
            ),
            Environment(webhook_secret=b"-"),
            cache_dir=work / "cache",
            kubeconfig=kubeconfig,
        )
        api = config.new_client_from_config(config_file=str(kubeconfig))
        times: dict[str, dict[str, list[float]]] = {}

        def kubectl_sync(i: int) -> None:
            base = [kubectl, "--kubeconfig", str(kubeconfig)]
            subprocess.run(
                [
                    *base,
                    "apply",
                    "--server-side",
                    "--field-manager",
                    "kubectl-bench",
                    "-f",
                    str(repo / "apps" / f"kubectl-{i}"),
                ],
                check=True,
                capture_output=True,
            )
            subprocess.run(
                [
                    *base,
                    "rollout",
                    "status",
                    "deployment/web",
                    "-n",
                    f"kubectl-{i}",
                    "--timeout",
                    "120s",
                ],
                check=True,
                capture_output=True,
            )

        def phase(name: str, sha: str) -> None:
            times[name] = {"engine": [], "kubectl": []}
            for i, app in enumerate(apps):
                start = time.perf_counter()
                result = engine.sync(app, sha)
                times[name]["engine"].append(time.perf_counter() - start)
                assert result.ok, result.error
                start = time.perf_counter()
                kubectl_sync(i)
                times[name]["kubectl"].append(time.perf_counter() - start)

        phase("first deploy", write_version(repo, n, 1))
        before = {p: resource_versions(api, n, p) for p in ("engine", "kubectl")}
        phase("no-op resync", git(repo, "rev-parse", "HEAD"))
        after = {p: resource_versions(api, n, p) for p in ("engine", "kubectl")}
        writes = {p: sum(a != b for a, b in zip(before[p], after[p], strict=True)) for p in before}
        phase("change every app", write_version(repo, n, 2))
    finally:
        stack.close()
        shutil.rmtree(work, ignore_errors=True)

    print(f"{n} apps x 5 objects (Namespace, ConfigMap, Secret, Service, 2-replica Deployment)")
    print(
        "| phase | engine median s/app | kubectl median s/app | engine total s "
        "| kubectl total s | kubectl/engine (median) |"
    )
    print("|---|---|---|---|---|---|")
    for name, t in times.items():
        e, k = statistics.median(t["engine"]), statistics.median(t["kubectl"])
        print(
            f"| {name} | {e:.3f} | {k:.3f} | {sum(t['engine']):.1f} | "
            f"{sum(t['kubectl']):.1f} | {k / e:.2f}x |"
        )
    for name, t in times.items():
        pairs = zip(t["engine"], t["kubectl"], strict=True)
        print(f"{name} (engine/kubectl s per app):", " ".join(f"{e:.2f}/{k:.2f}" for e, k in pairs))
    print(
        f"\nObjects rewritten by the no-op resync (of {4 * n}): engine {writes['engine']}, "
        f"kubectl {writes['kubectl']}"
    )


if __name__ == "__main__":
    main()
