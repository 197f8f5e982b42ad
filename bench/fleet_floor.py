"""The fleet's floor: the same N apps applied by plain ``kubectl apply --server-side`` on the
same kind of control plane, and where the time goes after the apply (the controllers).

No deployer: ``kubectl`` (the tests' own build) applies every app's file, from several
processes in parallel, then a watch waits until every Deployment is Available. What this
takes is what the control plane itself needs for the fleet on this machine; the deployer
cannot beat it. ``timeline`` reads, from the objects' own timestamps (1 s resolution),
when each stage of the fleet finished: Deployments created (the apply), ReplicaSets created
(kube-controller-manager's deployment controller), Pods created (its ReplicaSet controller),
Pods scheduled (kube-scheduler), Pods Ready (kwok), Deployments Available (the deployment
controller again). It serves the deployer's run too (``bench.fleet``).

    .venv/bin/python -m bench.fleet_floor [--apps 1000] [--parallel 4] [--controller-qps 0]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config, watch

from bench.cluster import running_cluster
from bench.fleet import PODS_PER_NODE, app_objects


def _stamp(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _condition(obj: Any, kind: str) -> float | None:
    for c in (obj.status.conditions if obj.status else None) or []:
        if c.type == kind and c.status == "True":
            return _stamp(c.last_transition_time)
    return None


def timeline(kubeconfig: Path, start_wall: float) -> dict[str, Any]:
    """Seconds after ``start_wall`` at which 50 % and 100 % of each stage had happened, and
    the busiest second's count (its rate ceiling). Read once, after the fleet is healthy."""
    api = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        deps = [
            d
            for d in apps.list_deployment_for_all_namespaces().items
            if d.metadata.namespace.startswith("app-")
        ]
        rss = apps.list_replica_set_for_all_namespaces(label_selector="app=web").items
        pods = core.list_pod_for_all_namespaces(label_selector="app=web").items
    finally:
        api.close()
    stages = {
        "deployments created (apply)": [_stamp(d.metadata.creation_timestamp) for d in deps],
        "replicasets created (kcm)": [_stamp(r.metadata.creation_timestamp) for r in rss],
        "pods created (kcm)": [_stamp(p.metadata.creation_timestamp) for p in pods],
        "pods scheduled (scheduler)": [_condition(p, "PodScheduled") for p in pods],
        "pods ready (kwok)": [_condition(p, "Ready") for p in pods],
        "deployments available (kcm)": [_condition(d, "Available") for d in deps],
    }
    out: dict[str, Any] = {}
    for name, stamps in stages.items():
        times = sorted(t - start_wall for t in stamps if t is not None)
        if not times:
            out[name] = {"count": 0}
            continue
        per_second: dict[int, int] = {}
        for t in times:
            per_second[int(t)] = per_second.get(int(t), 0) + 1
        out[name] = {
            "count": len(times),
            "first_s": round(times[0], 1),
            "half_s": round(times[len(times) // 2], 1),
            "all_s": round(times[-1], 1),
            "busiest_second": max(per_second.values()),
            "mean_rate_per_s": round(len(times) / max(1.0, times[-1] - times[0]), 1),
        }
    return out


def wait_available(kubeconfig: Path, apps: int, timeout: float) -> None:
    """Until ``apps`` Deployments labelled app=web report Available: one list, then a watch."""
    api = config.new_client_from_config(config_file=str(kubeconfig))
    apps_api = client.AppsV1Api(api)
    ready: set[str] = set()
    deadline = time.monotonic() + timeout
    try:
        while len(ready) < apps:
            listed = apps_api.list_deployment_for_all_namespaces()
            ready = {
                d.metadata.namespace
                for d in listed.items
                if d.metadata.namespace.startswith("app-") and _condition(d, "Available")
            }
            if len(ready) >= apps:
                break
            version = listed.metadata.resource_version
            stream = watch.Watch()
            for event in stream.stream(
                apps_api.list_deployment_for_all_namespaces,
                resource_version=version,
                timeout_seconds=max(1, int(deadline - time.monotonic())),
            ):
                dep = event["object"]
                ours = dep.metadata.namespace.startswith("app-")
                if ours and event["type"] != "DELETED" and _condition(dep, "Available"):
                    ready.add(dep.metadata.namespace)
                if len(ready) >= apps:
                    stream.stop()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(ready)} of {apps} Deployments Available")
    finally:
        api.close()


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run(apps: int, parallel: int, controller_qps: float) -> dict[str, Any]:
    """kubectl applies every app (``parallel`` processes), then waits for every rollout."""
    work = Path(tempfile.mkdtemp(prefix="bench-floor-"))
    nodes = max(2, -(-apps // (PODS_PER_NODE - 10)))
    try:
        with running_cluster(
            work / "cluster", nodes=nodes, controller_qps=controller_qps
        ) as kubeconfig:
            info = json.loads((work / "cluster" / "cluster.json").read_text())
            kubectl = str(Path(info["bin_dir"]) / "kubectl")
            names = [f"app-{i:04d}" for i in range(apps)]
            for i, name in enumerate(names):
                folder = work / "apps" / f"part-{i % parallel}"
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"{name}.yaml").write_text(yaml.safe_dump_all(app_objects(name)))
            load_before = loadavg()
            start_wall, start = time.time(), time.perf_counter()
            procs = [
                subprocess.Popen(
                    [
                        kubectl,
                        f"--kubeconfig={kubeconfig}",
                        "apply",
                        "--server-side",
                        "--field-manager=bench-floor",
                        "-f",
                        str(part),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
                for part in sorted((work / "apps").iterdir())
            ]
            for proc in procs:
                _, err = proc.communicate(timeout=1800)
                if proc.returncode:
                    raise RuntimeError(f"kubectl apply failed: {err.decode()[-2000:]}")
            applied = time.perf_counter() - start
            wait_available(kubeconfig, apps, timeout=1800)
            took = time.perf_counter() - start
            load_after = loadavg()
            stages = timeline(kubeconfig, start_wall)
    finally:
        if os.environ.get("BENCH_KEEP"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return {
        "apps": apps,
        "nodes": nodes,
        "kubectl_processes": parallel,
        "controller_qps": controller_qps or "default (kcm 20/30, scheduler 50/100)",
        "kubectl_applied_s": round(applied, 1),
        "all_available_s": round(took, 1),
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "stages": stages,
    }


def table(result: dict[str, Any]) -> str:
    rows = [
        ("apps", f"{result['apps']} x 4 ({result['nodes']} kwok nodes)"),
        ("controller client QPS", str(result["controller_qps"])),
        ("kubectl apply --server-side done", f"{result['kubectl_applied_s']} s"),
        ("every Deployment Available", f"{result['all_available_s']} s"),
        ("load average before / after", f"{result['loadavg_before']} / {result['loadavg_after']}"),
    ]
    for name, s in result["stages"].items():
        rows.append((name, f"all at {s.get('all_s')} s, {s.get('mean_rate_per_s')}/s"))
    return "\n".join(["| fleet floor | |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--parallel", type=int, default=4, help="kubectl processes")
    parser.add_argument("--controller-qps", type=float, default=0)
    args = parser.parse_args()
    result = run(args.apps, args.parallel, args.controller_qps)
    print(table(result))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
