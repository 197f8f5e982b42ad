"""Fleet: N apps of 4 objects each in one repository, created by one merge, through a real
``webhook-deployer serve``.

The control plane runs enough kwok nodes for one Pod per app. One commit adds every app
(a Namespace, ConfigMap, Service and 1-replica Deployment each); one signed push delivery
announces it. Timed: from the delivery to every job final (``succeeded`` means applied and
healthy: the Deployment's Pod is Ready). Counted: the deployer's requests in the API
server's audit log, by verb, and the 429s it met (the worker logs each). Sampled every
0.2 s: the resident memory of every ``serve`` process (supervisor, gunicorn, worker).

    .venv/bin/python -m bench.fleet [--apps 1000] [--max-concurrency 16]
        [--controller-qps QPS] [--floor] [--parallel 4]

``--controller-qps`` raises the client rate limit of the control plane's controller-manager
and scheduler (``scripts/test-cluster --controller-qps``; 0, the default, keeps theirs).
``--floor`` first runs ``bench.fleet_floor`` (the same apps by plain ``kubectl apply
--server-side``, ``--parallel`` processes) on its own control plane of the same kind, so the
deployer and its floor are measured side by side under the same load. Both report when each
stage of the fleet finished (``bench.fleet_floor.timeline``) and the load average.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import signal
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests
import yaml

from bench.cluster import running_cluster
from bench.sync import manifests
from tests.audit import AuditLog
from tests.github.api_server import GitHubApiServer
from tests.github.deliveries import Delivery
from tests.github.examples import branch_push
from tests.gitrepo import commit, init
from tests.processes import free_port, spawn, wait_ready

SECRET = b"bench secret"
REPO = "Codertocat/Hello-World"
PODS_PER_NODE = 110  # kwok nodes of scripts/test-cluster


def app_objects(ns: str) -> list[dict[str, Any]]:
    """Namespace, ConfigMap, Service and a 1-replica Deployment: bench.sync's app shape."""
    return manifests(ns, 1, replicas=1, secret=False)


def app_config(name: str, repo: str, branch: str = "master") -> dict[str, Any]:
    return {
        "name": name,
        "repo": repo,
        "branch": branch,
        "path": f"apps/{name}",
        "namespace": name,
        "allowed_namespaces": [name],
        "allowed_cluster_kinds": ["Namespace"],
    }


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and every descendant (from /proc)."""
    children: dict[int, list[int]] = collections.defaultdict(list)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children[int(fields[1])].append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def job_states(db: Path) -> dict[str, int]:
    with sqlite3.connect(db, timeout=30) as conn:
        return dict(conn.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall())


def run(apps: int, max_concurrency: int, controller_qps: float = 0) -> dict[str, Any]:
    from bench.fleet_floor import loadavg, timeline  # imports this module

    work = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    nodes = max(2, -(-apps // (PODS_PER_NODE - 10)))
    github = GitHubApiServer()
    server = None
    try:
        with running_cluster(
            work / "cluster", nodes=nodes, controller_qps=controller_qps
        ) as kubeconfig:
            audit = AuditLog(work / "cluster" / "audit.log", kubeconfig)
            repo = init(work / "repo", branch="master")
            commit(repo, {"README.md": "fleet\n"}, "init")
            names = [f"app-{i:04d}" for i in range(apps)]
            config = work / "deployer.yaml"
            config.write_text(
                yaml.safe_dump(
                    {
                        "resync_interval": 0,
                        "apps": [app_config(n, REPO) for n in names],
                        "repos": {REPO: {"clone_url": f"file://{repo}"}},
                    }
                )
            )
            db = work / "deployer.db"
            env = {
                "GITHUB_WEBHOOK_SECRET": SECRET.decode(),
                "GITHUB_TOKEN": "ghs_bench",
                "GITHUB_API_URL": github.url,
                "KUBECONFIG": str(kubeconfig),
                "DEPLOYER_DATABASE_URL": f"sqlite:///{db}",
                "DEPLOYER_CACHE_DIR": str(work / "cache"),
                "DEPLOYER_LOG_LEVEL": "INFO",
                "DEPLOYER_LOG_FORMAT": "text",
                "DEPLOYER_WORKER_MAX_CONCURRENCY": str(max_concurrency),
            }
            log_path = work / "serve.log"
            log = open(log_path, "wb")  # noqa: SIM115
            port = free_port()
            server = spawn("serve", config, port, env, log=log)
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, server, log_path, timeout=120)
            idle_rss = tree_rss(server.pid)
            files = {f"apps/{n}/app.yaml": yaml.safe_dump_all(app_objects(n)) for n in names}
            sha = commit(repo, files, f"add {apps} apps")
            push = branch_push()
            push.update(after=sha, created=False)
            push["commits"][0].update(id=sha, added=sorted(files), modified=[], removed=[])
            peak = [idle_rss]
            done = threading.Event()

            def sample() -> None:
                while not done.wait(0.2):
                    peak[0] = max(peak[0], tree_rss(server.pid))  # type: ignore[union-attr]

            sampler = threading.Thread(target=sample, daemon=True)
            mark = audit.mark()
            sampler.start()
            load_before = loadavg()
            start_wall, start = time.time(), time.perf_counter()
            delivery = Delivery("push", push, SECRET)
            answer = requests.post(
                f"{url}/webhooks/github", data=delivery.body, headers=delivery.headers(), timeout=60
            )
            answered = time.perf_counter() - start
            assert answer.status_code in (200, 202), answer.text
            deadline = start + 1800
            states: dict[str, int] = {}
            while time.perf_counter() < deadline:
                states = job_states(db)
                final = sum(v for k, v in states.items() if k not in ("queued", "running"))
                if sum(states.values()) >= apps and final >= sum(states.values()):
                    break
                time.sleep(0.25)
            took = time.perf_counter() - start
            load_after = loadavg()
            done.set()
            sampler.join()
            sent = audit.since(mark)
            verbs = collections.Counter(
                f"{r.verb}{' (dry run)' if r.dry_run else ''}" for r in sent
            )
            kinds = collections.Counter(
                f"{r.resource} {r.verb}{' (dry run)' if r.dry_run else ''}" for r in sent
            )
            stages = timeline(kubeconfig, start_wall)
            throttled = log_path.read_text(errors="replace").count("API server busy (429)")
            workers = [
                line
                for line in log_path.read_text(errors="replace").splitlines()
                if "concurrency" in line and "worker" in line
            ]
            server.send_signal(signal.SIGTERM)
            server.wait(120)
            server = None
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(120)
        github.close()
        if os.environ.get("BENCH_KEEP"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return {
        "apps": apps,
        "objects": apps * 4,
        "nodes": nodes,
        "max_concurrency": max_concurrency,
        "delivery_answered_s": round(answered, 3),
        "all_final_s": round(took, 1),
        "jobs": states,
        "api_requests": sum(verbs.values()),
        "api_requests_by_verb": dict(verbs.most_common()),
        "api_requests_per_app": round(sum(verbs.values()) / apps, 2),
        "api_requests_by_resource": dict(sorted(kinds.items())),
        "controller_qps": controller_qps or "default (kcm 20/30, scheduler 50/100)",
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "stages": stages,
        "throttled_429": throttled,
        "rss_idle_mb": round(idle_rss / 2**20, 1),
        "rss_peak_mb": round(peak[0] / 2**20, 1),
        "worker_line": workers[-1][-120:] if workers else "",
    }


def table(result: dict[str, Any]) -> str:
    peak = result["rss_peak_mb"]
    rows = [
        ("apps x objects", f"{result['apps']} x 4 ({result['nodes']} kwok nodes)"),
        ("push delivery answered", f"{result['delivery_answered_s']} s"),
        ("every app synced and healthy", f"{result['all_final_s']} s"),
        ("job states", json.dumps(result["jobs"])),
        ("API requests (audit log)", str(result["api_requests"])),
        ("by verb", json.dumps(result["api_requests_by_verb"])),
        ("API requests per app", str(result["api_requests_per_app"])),
        ("controller client QPS", str(result["controller_qps"])),
        ("load average before / after", f"{result['loadavg_before']} / {result['loadavg_after']}"),
        ("429 answers met", str(result["throttled_429"])),
        ("RSS idle / peak, all serve processes", f"{result['rss_idle_mb']} / {peak} MB"),
    ]
    for name, stage in result["stages"].items():
        rows.append((name, f"all at {stage.get('all_s')} s, {stage.get('mean_rate_per_s')}/s"))
    return "\n".join(["| fleet | |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--max-concurrency", type=int, default=16)
    parser.add_argument("--controller-qps", type=float, default=0)
    parser.add_argument("--floor", action="store_true", help="kubectl's floor first")
    parser.add_argument("--parallel", type=int, default=4, help="kubectl processes (--floor)")
    args = parser.parse_args()
    if args.floor:
        from bench import fleet_floor

        floor = fleet_floor.run(args.apps, args.parallel, args.controller_qps)
        print(fleet_floor.table(floor), flush=True)
        print(json.dumps(floor), flush=True)
    result = run(args.apps, args.max_concurrency, args.controller_qps)
    print(table(result))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
