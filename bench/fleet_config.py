"""Fleet configuration: N apps across R repositories, against one app, side by side.

- Receiver: a real ``webhook-deployer serve`` per size; a signed push touching one app's
  folder, a new commit each time, posted to both servers in turn; the median time to 2xx.
  Target: at N apps within 1.5x of one app's.
- Start-up: from ``serve`` started to ``/readyz`` answering 200, per size.
- Footprint: the resident memory of every ``serve`` process (supervisor, web, sync worker)
  idle after start-up, at 1 / 1,000 / N apps: RSS (the issue's measure) and PSS, per process.
  ``--footprint-only`` measures just that; ``--baseline REF`` runs the same sizes from the
  code at git ``REF`` side by side, in the same run (the machine is shared).
- Drift round: ``DriftPoller.check_all`` in this process over every app, with the real
  engine's ``head`` (``git ls-remote`` of local repositories): the time and the number of
  ``ls-remote`` calls (one per repository and branch is the target). No app has a job yet,
  so each gets a drift job; no live state is read (see BENCHMARKS.md for that part).

    .venv/bin/python -m bench.fleet_config [--apps 5000] [--repos 50] [--requests 200]
    .venv/bin/python -m bench.fleet_config --footprint-only [--baseline REF]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
import yaml

from bench.fleet import app_config, tree_rss
from tests.github.deliveries import Delivery
from tests.github.examples import branch_push
from tests.gitrepo import commit, init
from tests.processes import free_port, spawn, wait_ready
from webhook.affected import inputs_key
from webhook.drift import DriftPoller
from webhook.engine import SyncEngine
from webhook.queue import sqlite_store
from webhook.settings import AppConfig, Environment, load_config

SECRET = b"bench secret"


def write_config(path: Path, apps: int, repos: list[Path]) -> None:
    """``apps`` apps spread evenly over ``repos`` (repo ``fleet/r<k>``, folder per app)."""
    names = [f"app-{i:05d}" for i in range(apps)]
    config = {
        "resync_interval": 0,
        "apps": [app_config(n, f"fleet/r{i % len(repos)}") for i, n in enumerate(names)],
        "repos": {f"fleet/r{k}": {"clone_url": f"file://{r}"} for k, r in enumerate(repos)},
    }
    path.write_text(yaml.safe_dump(config))


def seed_inputs(db: Path, config: Path) -> None:
    """Every app's recorded render inputs (its own folder), as after a first sync: without
    them a push touches every app of its branch (inputs unknown), by design."""
    sqlite_store(db).close()  # the schema
    rows = [
        (app.name, inputs_key(app), "c" * 40, json.dumps([f"{app.path}/"]), 0.0)
        for app in load_config(config).apps
    ]
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO app_inputs (app, inputs_key, commit_sha, paths, recorded_at) "
            "VALUES (?, ?, ?, ?, ?)",
            rows,
        )
        conn.execute("UPDATE app_inputs_generation SET generation = generation + 1")


def start(work: Path, name: str, config: Path) -> tuple[subprocess.Popen[bytes], str, float]:
    env = {
        "GITHUB_WEBHOOK_SECRET": SECRET.decode(),
        "DEPLOYER_DATABASE_URL": f"sqlite:///{work / f'{name}.db'}",
        "DEPLOYER_CACHE_DIR": str(work / f"cache-{name}"),
        "DEPLOYER_LOG_LEVEL": "WARNING",
        "KUBECONFIG": str(work / "no-cluster"),
    }
    seed_inputs(work / f"{name}.db", config)
    port = free_port()
    began = time.perf_counter()
    proc = spawn("serve", config, port, env, log=open(work / f"{name}.log", "wb"))  # noqa: SIM115
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, proc, work / f"{name}.log", timeout=300)
    return proc, url, time.perf_counter() - began


def processes(pid: int) -> list[dict[str, Any]]:
    """``pid`` and its descendants: role (from the command line), RSS and PSS in MB."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            argv = Path(f"/proc/{current}/cmdline").read_bytes().decode().split("\0")
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text().splitlines()[1:]
        except OSError:
            continue
        kb = {line.split(":")[0]: int(line.split()[1]) for line in rollup}
        argv = [arg for arg in argv if arg]
        if "webhook.cli" in argv[:-1]:  # python -m webhook.cli ROLE ...
            role = argv[argv.index("webhook.cli") + 1]
        elif len(argv) > 2 and argv[1] == "-m":  # python -m webhook.ROLE
            role = argv[2].removeprefix("webhook.")
        else:  # another child (git's long-lived cat-file): counted under its own name
            role = " ".join([Path(argv[0]).name, *argv[1:2]]) if argv else "?"
        found.append({"role": role, "rss_mb": kb["Rss"] / 1024, "pss_mb": kb["Pss"] / 1024})
    return found


def extract(ref: str, into: Path) -> Path:
    """The project's files at git ``ref`` (``git archive``: no worktree is registered)."""
    tar = subprocess.run(["git", "archive", ref], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(into, filter="data")
    return into


def start_tree(
    work: Path, name: str, config: Path, tree: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """``serve`` from the code in ``tree`` (its own ``webhook`` package first on the path)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "GITHUB_WEBHOOK_SECRET": SECRET.decode(),
        "DEPLOYER_DATABASE_URL": f"sqlite:///{work / f'{name}.db'}",
        "DEPLOYER_CACHE_DIR": str(work / f"cache-{name}"),
        "DEPLOYER_LOG_LEVEL": "WARNING",
        "KUBECONFIG": str(work / "no-cluster"),
    }
    port = free_port()
    command = [sys.executable, "-m", "webhook.cli", "serve", "--config", str(config)]
    log = open(work / f"{name}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [*command, "--bind", f"127.0.0.1:{port}"], cwd=tree, env=env, stdout=log, stderr=log
    )
    return proc, f"http://127.0.0.1:{port}"


def footprint(apps: int, repo_count: int, baseline: str | None) -> dict[str, Any]:
    """Idle RSS and PSS of ``serve`` at 1 / 1,000 / ``apps`` apps, per process; with
    ``baseline``, the code at that git ref too, started and measured alongside."""
    work = Path(tempfile.mkdtemp(prefix="bench-footprint-"))
    trees = {"this tree": Path.cwd()}
    if baseline:
        trees[baseline] = extract(baseline, work / "baseline")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        repos = [init(work / f"r{k}", branch="master") for k in range(repo_count)]
        for r in repos:
            commit(r, {"README.md": "x\n"}, "init")
        runs = []
        for n in sorted({1, min(1000, apps), apps}):
            config = work / f"deployer-{n}.yaml"
            write_config(config, n, repos if n > 1 else repos[:1])
            for label, tree in trees.items():
                name = f"{n}-{len(runs)}"
                seed_inputs(work / f"{name}.db", config)
                proc, url = start_tree(work, name, config, tree)
                procs.append(proc)
                runs.append((n, label, proc, url, name))
        for _, _, proc, url, name in runs:
            wait_ready(url, proc, work / f"{name}.log", timeout=600)
        time.sleep(10)  # every process settled (imports done, first polls made)
        results = [
            {"apps": n, "code": label, "processes": processes(proc.pid)}
            for n, label, proc, _, _ in runs
        ]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(60)
        shutil.rmtree(work, ignore_errors=True)
    for result in results:
        result["rss_mb"] = round(sum(p["rss_mb"] for p in result["processes"]), 1)
        result["pss_mb"] = round(sum(p["pss_mb"] for p in result["processes"]), 1)
    return {"footprint": results}


def print_footprint(results: list[dict[str, Any]]) -> None:
    print("| apps | code | RSS sum, MB | PSS sum, MB | per process: RSS / PSS, MB |")
    print("|---|---|---|---|---|")
    for r in results:
        each = "; ".join(
            f"{p['role']} {p['rss_mb']:.1f} / {p['pss_mb']:.1f}" for p in r["processes"]
        )
        print(f"| {r['apps']:,} | {r['code']} | {r['rss_mb']} | {r['pss_mb']} | {each} |")


def push_to(repo_name: str, app: str, sha: str) -> Delivery:
    push = branch_push()
    push["repository"]["full_name"] = repo_name
    push["repository"]["name"] = repo_name.split("/")[1]
    push["repository"]["owner"]["login"] = push["repository"]["owner"]["name"] = "fleet"
    push.update(after=sha, created=False)
    push["commits"][0].update(id=sha, added=[], modified=[f"apps/{app}/app.yaml"], removed=[])
    return Delivery("push", push, SECRET)


def drift_round(work: Path, config_path: Path) -> dict[str, Any]:
    config = load_config(config_path)
    env = Environment.from_environ({"GITHUB_WEBHOOK_SECRET": "x"})
    engine = SyncEngine(config, env, cache_dir=work / "cache-drift")
    calls: list[str] = []

    class CountingProbe:
        def head(self, app: AppConfig) -> str:
            calls.append(app.repo)
            return engine.head(app)

        def live_drift(self, app: AppConfig, revision: str) -> bool:
            return engine.live_drift(app, revision)

    store = sqlite_store(work / "drift.db")
    poller = DriftPoller(config, store, CountingProbe(), interval=300)
    began = time.perf_counter()
    enqueued = poller.check_all()
    took = time.perf_counter() - began
    store.close()
    return {
        "seconds": round(took, 2),
        "ls_remote": len(calls),
        "repos": len({c for c in calls}),
        "drift_jobs": len(enqueued),
    }


def run(apps: int, repo_count: int, rounds: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-fleet-config-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        repos = [init(work / f"r{k}", branch="master") for k in range(repo_count)]
        for r in repos:
            commit(r, {"README.md": "x\n"}, "init")
        sizes = sorted({1, min(1000, apps), apps})
        configs = {}
        for n in sizes:
            configs[n] = work / f"deployer-{n}.yaml"
            write_config(configs[n], n, repos if n > 1 else repos[:1])
        startup, rss, urls = {}, {}, {}
        for n in sizes:
            proc, url, took = start(work, f"apps{n}", configs[n])
            procs.append(proc)
            startup[n], urls[n] = took, url
        time.sleep(5)  # let every process settle (imports done, first polls made)
        for n, proc in zip(sizes, procs, strict=True):
            rss[n] = tree_rss(proc.pid)
        latencies: dict[int, list[float]] = {1: [], apps: []}
        session = requests.Session()
        for i in range(rounds):
            for n in (1, apps) if i % 2 else (apps, 1):
                delivery = push_to("fleet/r0", "app-00000", f"{i:040x}")
                began = time.perf_counter()
                answer = session.post(
                    f"{urls[n]}/webhooks/github",
                    data=delivery.body,
                    headers=delivery.headers(),
                    timeout=30,
                )
                latencies[n].append(time.perf_counter() - began)
                assert answer.status_code in (200, 202), answer.text
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(60)
        procs = []
        drift = drift_round(work, configs[apps])
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        shutil.rmtree(work, ignore_errors=True)
    one, many = statistics.median(latencies[1]), statistics.median(latencies[apps])
    return {
        "apps": apps,
        "repos": repo_count,
        "receiver_median_ms": {"1": round(one * 1000, 2), str(apps): round(many * 1000, 2)},
        "receiver_ratio": round(many / one, 2),
        "startup_s": {str(n): round(s, 2) for n, s in startup.items()},
        "rss_idle_mb": {str(n): round(b / 2**20, 1) for n, b in rss.items()},
        "drift_round": drift,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=5000)
    parser.add_argument("--repos", type=int, default=50)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--footprint-only", action="store_true")
    parser.add_argument("--baseline", metavar="REF", help="also measure the code at git REF")
    args = parser.parse_args()
    if args.footprint_only or args.baseline:
        found = footprint(args.apps, args.repos, args.baseline)
        print_footprint(found["footprint"])
        print(json.dumps(found))
        return
    r = run(args.apps, args.repos, args.requests)
    n = str(r["apps"])
    d = r["drift_round"]
    print(f"{r['apps']} apps across {r['repos']} repositories, against one app")
    print("| figure | 1 app | fleet | fleet / 1 app |")
    print("|---|---|---|---|")
    one, many = r["receiver_median_ms"]["1"], r["receiver_median_ms"][n]
    print(f"| push delivery to 2xx, median ms | {one} | {many} | {r['receiver_ratio']}x |")
    s1, sn = r["startup_s"]["1"], r["startup_s"][n]
    print(f"| serve start-up to /readyz, s | {s1} | {sn} | {sn / s1:.2f}x |")
    for size, mb in r["rss_idle_mb"].items():
        one_mb = r["rss_idle_mb"]["1"]
        print(f"| RSS idle, all serve processes, {size} apps, MB | {one_mb} | {mb} | |")
    print(
        f"| drift round over {n} apps | | {d['seconds']} s, {d['ls_remote']} ls-remote "
        f"({d['repos']} repos), {d['drift_jobs']} drift jobs | |"
    )
    print(json.dumps(r))


if __name__ == "__main__":
    main()
