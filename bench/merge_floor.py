"""The floor under merge to green on this machine: what the API server and git take for the
small shape's change, with none of the deployer's own work.

Per round: a ``git fetch`` of a new commit into a bare mirror (kept under a ref, as the
deployer's mirrors are), then 10 ConfigMaps dry-run with server-side apply in one wave, then
applied in one wave, through the deployer's own client (``webhook.kube.client.Cluster``).
No render, guard, plan, diff, store or GitHub. Compare with ``bench.merge_to_status``.

    .venv/bin/python -m bench.merge_floor [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from bench.cluster import running_cluster
from tests.gitrepo import commit, init
from webhook.kube.client import Cluster

NAMESPACE = "floor"
OBJECTS = 10


def _wave(cluster: Cluster, resource: Any, bodies: list[dict[str, Any]], *, dry_run: bool) -> None:
    def one(body: dict[str, Any]) -> Any:
        return cluster.apply(resource, body, dry_run=dry_run, force=True)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, bodies))


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    rounds = parser.parse_args().rounds
    work = Path(tempfile.mkdtemp(prefix="bench-floor-"))
    with running_cluster(work / "cluster", nodes=0) as kubeconfig:
        cluster = Cluster(context=None, cache_dir=work / "cache", kubeconfig=kubeconfig)
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        cluster.apply(cluster.resource("v1", "Namespace"), namespace, dry_run=False, force=True)
        config_map = cluster.resource("v1", "ConfigMap")
        repo, mirror = init(work / "repo"), work / "mirror.git"
        subprocess.run(["git", "init", "--quiet", "--bare", str(mirror)], check=True)
        times: dict[str, list[float]] = {"fetch": [], "dry run": [], "apply": [], "total": []}
        for version in range(rounds + 1):
            sha = commit(repo, {"app.yaml": f"version: {version}\n"}, f"v{version}")
            bodies = [
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": f"settings-{i}", "namespace": NAMESPACE},
                    "data": {"version": str(version)},
                }
                for i in range(OBJECTS)
            ]
            fetch = ["git", "-C", str(mirror), "fetch", "--quiet", "--no-tags"]
            fetch += [f"file://{repo}", f"+{sha}:refs/x"]
            spent = {
                "fetch": _timed(partial(subprocess.run, fetch, check=True)),
                "dry run": _timed(partial(_wave, cluster, config_map, bodies, dry_run=True)),
                "apply": _timed(partial(_wave, cluster, config_map, bodies, dry_run=False)),
            }
            if version == 0:
                continue  # the first round creates the objects and warms the connections
            for name, seconds in spent.items():
                times[name].append(seconds)
            times["total"].append(sum(spent.values()))
    print("| step | median ms |\n|---|---|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values) * 1000:.0f} |")


if __name__ == "__main__":
    main()
