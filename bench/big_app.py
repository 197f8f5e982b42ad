"""Big app: one app of N objects, our engine against ``kubectl apply --server-side``.

The app is N objects in one namespace, a quarter each ConfigMaps, Secrets, ServiceAccounts
and Services (issue #13's shape). Each round creates fresh namespaces and, interleaved:
the engine syncs its copy cold (dry run of everything first, then the ordered apply, the
ApplySet parent and the health wait), kubectl applies its copy cold; then each does a no-op
resync of the same files. Writes on the no-op are counted from resourceVersions.

    .venv/bin/python -m bench.big_app [--objects 500] [--rounds 3] [--profile FILE]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

from bench.cluster import ROOT, running_cluster
from tests.gitrepo import commit, init
from webhook.engine import SyncEngine
from webhook.kube import apply as apply_module
from webhook.kube.client import Cluster
from webhook.settings import AppConfig, DeployerConfig, Environment, RepoConfig

KINDS = ("ConfigMap", "Secret", "ServiceAccount", "Service")


def manifests(objects: int) -> list[dict[str, Any]]:
    """``objects`` namespace-less manifests (each sync sets the namespace)."""
    out: list[dict[str, Any]] = []
    for i in range(objects):
        kind = KINDS[i % len(KINDS)]
        body: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "metadata": {"name": f"o-{i}"}}
        if kind == "ConfigMap":
            body["data"] = {"index": str(i), "text": "x" * 200}
        elif kind == "Secret":
            body["stringData"] = {"token": f"not-a-secret-{i}"}
        elif kind == "Service":
            body["spec"] = {"selector": {"app": f"o-{i}"}, "ports": [{"port": 80}]}
        out.append(body)
    return out


def tools_bin() -> Path:
    out = subprocess.run(
        [str(ROOT / "scripts/build-test-tools")], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip().splitlines()[-1])


def resource_versions(api: client.ApiClient, namespace: str) -> dict[str, str]:
    core = client.CoreV1Api(api)
    found: dict[str, str] = {}
    for kind, lister in (
        ("ConfigMap", core.list_namespaced_config_map),
        ("Secret", core.list_namespaced_secret),
        ("ServiceAccount", core.list_namespaced_service_account),
        ("Service", core.list_namespaced_service),
    ):
        for item in lister(namespace).items:
            found[f"{kind}/{item.metadata.name}"] = item.metadata.resource_version
    return found


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def rss_mb() -> float:
    """This process's resident memory, from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_growth(run: Callable[[], object]) -> tuple[float, float]:
    """(seconds, MB): the wall time of ``run`` and how far this process's RSS rose above
    where it started, sampled every 20 ms while it ran (the engine syncs in-process)."""
    start_rss, peak = rss_mb(), 0.0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        took = timed(run)
    finally:
        done.set()
        sampler.join()
    return took, max(peak, rss_mb()) - start_rss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", help="write a pyinstrument profile (.html or .txt)")
    parser.add_argument(
        "--parallel",
        default=str(apply_module.MAX_PARALLEL),
        help="comma-separated apply/dry-run concurrencies to compare (engine-N per value)",
    )
    args = parser.parse_args()
    kubectl = str(tools_bin() / "kubectl")
    work = Path(tempfile.mkdtemp(prefix="bench-big-"))
    with ExitStack() as stack:
        kubeconfig = stack.enter_context(running_cluster(work / "cluster", nodes=1))
        repo = init(work / "repo")
        docs = yaml.safe_dump_all(manifests(args.objects))
        sha = commit(repo, {"app/objects.yaml": docs}, "objects")
        (work / "kubectl").mkdir()
        api = config.new_client_from_config(config_file=str(kubeconfig))
        core = client.CoreV1Api(api)
        times: dict[str, list[float]] = {}
        growth: dict[str, list[float]] = {}
        writes: dict[str, list[int]] = {"kubectl": [], "floor": []}
        profiler: Any = None
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.002)
        widths = [int(w) for w in args.parallel.split(",")]
        engines = [f"engine-{w}" for w in widths]
        writes.update({e: [] for e in engines})
        for r in range(args.rounds):
            ns = {**{e: f"{e}-{r}" for e in engines}, "kubectl": f"kc-{r}", "floor": f"fl-{r}"}
            for name in ns.values():
                core.create_namespace({"metadata": {"name": name}})
            runs: dict[str, Callable[[], object]] = {}
            for width, label in zip(widths, engines, strict=True):
                app = AppConfig(
                    name=f"big-{width}-{r}", repo="bench/big", path="app", namespace=ns[label]
                )
                engine = SyncEngine(
                    DeployerConfig(
                        apps=(app,), repos={"bench/big": RepoConfig(clone_url=f"file://{repo}")}
                    ),
                    Environment(webhook_secret=b"-"),
                    cache_dir=work / "cache",
                    kubeconfig=kubeconfig,
                )
                runs[label] = partial(engine_sync, engine, app, sha, width, profiler)
            path = work / "kubectl" / f"objects-{r}.yaml"
            path.write_text(
                yaml.safe_dump_all(
                    [
                        {**d, "metadata": {**d["metadata"], "namespace": ns["kubectl"]}}
                        for d in manifests(args.objects)
                    ]
                )
            )
            apply = [kubectl, "--kubeconfig", str(kubeconfig), "apply", "--server-side"]
            apply += ["--field-manager", "kubectl-bench", "-f", str(path)]
            runs["kubectl"] = partial(subprocess.run, apply, check=True, capture_output=True)
            runs["floor"] = partial(
                bare_applies, kubeconfig, work / "cache", manifests(args.objects), ns["floor"]
            )
            for phase in ("cold", "no-op"):
                before = {k: resource_versions(api, v) for k, v in ns.items()}
                for label, run in runs.items():
                    took, grew = peak_growth(run)
                    times.setdefault(f"{phase}/{label}", []).append(took)
                    if label in engines:
                        growth.setdefault(f"{phase}/{label}", []).append(grew)
                if phase == "no-op":
                    for k, v in ns.items():
                        after = resource_versions(api, v)
                        writes[k].append(sum(after[o] != before[k].get(o) for o in after))
        if profiler is not None:
            out = Path(args.profile)
            text = profiler.output_html() if out.suffix == ".html" else profiler.output_text()
            out.write_text(text)
    print(f"one app of {args.objects} objects ({', '.join(KINDS)}), {args.rounds} rounds")
    print("| phase | variant | median s | / kubectl |")
    print("|---|---|---|---|")
    for phase in ("cold", "no-op"):
        k = statistics.median(times[f"{phase}/kubectl"])
        for label in (*engines, "kubectl", "floor"):
            m = statistics.median(times[f"{phase}/{label}"])
            print(f"| {phase} | {label} | {m:.2f} | {m / k:.2f}x |")
    for key, values in times.items():
        print(key, " ".join(f"{v:.2f}" for v in values))
    print("objects rewritten by the no-op:", writes)
    print("engine RSS growth while syncing (MB, max over rounds):", end="")
    for key, values in growth.items():
        print(f" {key} {max(values):.0f}", end=";")
    print()


def bare_applies(kubeconfig: Path, cache: Path, bodies: list[dict[str, Any]], ns: str) -> None:
    """The API server's own floor: the same server-side applies, 16 at a time, through the
    engine's client, with no reads, no dry run, no ordering and no health wait."""
    cluster = Cluster(context=None, cache_dir=cache, kubeconfig=kubeconfig)
    try:
        resources = {k: cluster.resource("v1", k) for k in KINDS}

        def one(body: dict[str, Any]) -> None:
            body = {**body, "metadata": {**body["metadata"], "namespace": ns}}
            cluster.apply(resources[body["kind"]], body, dry_run=False, force=True)

        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(one, bodies))
    finally:
        cluster.close()


def engine_sync(engine: SyncEngine, app: AppConfig, sha: str, width: int, profiler: Any) -> None:
    apply_module.MAX_PARALLEL = width
    if profiler is not None:
        profiler.start()
    try:
        result = engine.sync(app, sha)
    finally:
        if profiler is not None:
            profiler.stop()
    assert result.ok, result.error


if __name__ == "__main__":
    main()
