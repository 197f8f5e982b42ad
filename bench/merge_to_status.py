"""Merge to green: a merge delivered to a real ``webhook-deployer serve``, until GitHub shows
the result. Everything is real but GitHub itself, which is the suite's local server checking
every call against GitHub's OpenAPI description.

For each round: commit a change to the repo, deliver the merge as GitHub does (a push, then
the closed pull request, both signed), and time until the deployer has posted ``pending`` and
then ``success`` for ``deploy/<app>`` on the merge commit. Two shapes, each with its own
deployer, measured round by round in turn:

- ``small`` (the issue's figure): 20 small objects (a Namespace, 10 ConfigMaps, 5 Services,
  4 ServiceAccounts), no rollout; each merge changes every ConfigMap's value.
- ``rollout``: bench.sync's app (ConfigMap, Secret, Service, 2-replica Deployment); each merge
  changes the ConfigMap and the pod template, and the control plane's kwok nodes really roll
  the Deployment out, so the health wait is part of the figure.

    .venv/bin/python -m bench.merge_to_status [--rounds N] [--shapes small rollout]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import requests
import yaml

from bench.cluster import running_cluster
from bench.sync import manifests
from tests.github.api_server import GitHubApiServer
from tests.github.deliveries import Delivery
from tests.github.examples import branch_push, merged_pull_request
from tests.gitrepo import commit, init
from tests.processes import free_port, spawn, wait_ready

SECRET = b"bench secret"
REPO = "Codertocat/Hello-World"
SHAPES = ("small", "rollout")


def github_idle(github: GitHubApiServer, quiet: float = 1.5, limit: float = 30.0) -> None:
    """Wait until no call has reached the GitHub server for ``quiet`` seconds."""
    deadline = time.monotonic() + limit
    count, since = len(github.calls), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if len(github.calls) != count:
            count, since = len(github.calls), time.monotonic()
        elif time.monotonic() - since >= quiet:
            return


def small_manifests(ns: str, version: int) -> list[dict[str, Any]]:
    """The issue's shape: 20 small objects and nothing to roll out."""
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    ]
    meta = {"namespace": ns}
    for i in range(10):
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"settings-{i}", **meta},
                "data": {"version": str(version), "greeting": f"hello {i}"},
            }
        )
    for i in range(5):
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": f"svc-{i}", **meta},
                "spec": {"selector": {"app": f"a{i}"}, "ports": [{"port": 80}]},
            }
        )
    for i in range(4):
        objects.append(
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": f"sa-{i}", **meta}}
        )
    return objects


def shape_manifests(shape: str, version: int) -> list[dict[str, Any]]:
    return small_manifests(shape, version) if shape == "small" else manifests(shape, version)


def app_config(shape: str) -> dict[str, Any]:
    return {
        "name": shape,
        "repo": REPO,
        "branch": "master",
        "path": f"apps/{shape}",
        "namespace": shape,
        "allowed_namespaces": [shape],
        "allowed_cluster_kinds": ["Namespace"],
    }


def deliver_merge(url: str, sha: str, path: str) -> None:
    push = branch_push()
    push.update(after=sha, created=False)
    push["commits"][0].update(id=sha, added=[], modified=[path], removed=[])
    for event, payload in (("push", push), ("pull_request", merged_pull_request(sha))):
        delivery = Delivery(event, payload, SECRET)
        answer = requests.post(
            f"{url}/webhooks/github", data=delivery.body, headers=delivery.headers(), timeout=10
        )
        assert answer.status_code in (200, 202), answer.text


def percentile(xs: list[float], q: float) -> float:
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--shapes", nargs="+", choices=SHAPES, default=list(SHAPES))
    args = parser.parse_args()
    rounds, shapes = args.rounds, args.shapes
    work = Path(tempfile.mkdtemp(prefix="bench-merge-"))
    stack = ExitStack()
    kubeconfig = stack.enter_context(running_cluster(work / "cluster", nodes=2))
    github = GitHubApiServer()
    server = None
    timings: dict[str, dict[str, list[float]]] = {
        shape: {"answered": [], "pending": [], "green": []} for shape in shapes
    }
    try:
        repo = init(work / "repo", branch="master")
        config = work / "deployer.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "resync_interval": 0,
                    "apps": [app_config(shape) for shape in shapes],
                    "repos": {REPO: {"clone_url": f"file://{repo}"}},
                }
            )
        )
        port = free_port()
        env = {
            "GITHUB_WEBHOOK_SECRET": SECRET.decode(),
            "GITHUB_TOKEN": "ghs_bench",
            "GITHUB_API_URL": github.url,
            "KUBECONFIG": str(kubeconfig),
            "DEPLOYER_DATABASE_URL": f"sqlite:///{work / 'deployer.db'}",
            "DEPLOYER_CACHE_DIR": str(work / "cache"),
            "DEPLOYER_LOG_LEVEL": "WARNING",
        }
        log = open(work / "serve.log", "wb")  # noqa: SIM115
        server = spawn("serve", config, port, env, log=log)
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, server, work / "serve.log")
        for version in range(rounds + 1):
            for shape in shapes:
                # Merges come minutes apart in life: let the previous round's reports (the PR
                # head's status, the comment) finish, and the write budget refill at GitHub's
                # sustained pace (one write a second; a merge costs about six), before timing
                # the next one.
                github_idle(github, quiet=6.0)
                path = f"apps/{shape}/app.yaml"
                sha = commit(
                    repo,
                    {path: yaml.safe_dump_all(shape_manifests(shape, version))},
                    f"{shape} v{version}",
                )
                context = f"deploy/{shape}"
                start = time.perf_counter()
                deliver_merge(url, sha, path)
                took_answer = time.perf_counter() - start
                seen_pending = None
                deadline = start + 120
                while time.perf_counter() < deadline:
                    states = github.states(REPO, sha, context)
                    if seen_pending is None and "pending" in states:
                        seen_pending = time.perf_counter() - start
                    if states and states[-1] in ("success", "failure", "error"):
                        break
                    time.sleep(0.005)
                took_green = time.perf_counter() - start
                assert github.states(REPO, sha, context)[-1] == "success", (
                    github.states(REPO, sha, context),
                    (work / "serve.log").read_text()[-2000:],
                )
                if version == 0:
                    continue  # the first round also creates the namespace and warms caches
                timings[shape]["answered"].append(took_answer)
                timings[shape]["pending"].append(
                    seen_pending if seen_pending is not None else took_green
                )
                timings[shape]["green"].append(took_green)
        assert github.failures == []
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
        github.close()
        stack.close()
        shutil.rmtree(work, ignore_errors=True)

    def row(name: str, xs: list[float]) -> str:
        return (
            f"| {name} | {statistics.median(xs):.3f} | {percentile(xs, 0.95):.3f} "
            f"| {min(xs):.3f} | {max(xs):.3f} |"
        )

    for shape in shapes:
        what = (
            "20 small objects, every ConfigMap changed, no rollout"
            if shape == "small"
            else "a ConfigMap change and a 2-replica rolling update"
        )
        found = timings[shape]
        print(f"{shape}: {len(found['green'])} merges (each: push + pull_request, {what})")
        print("| from the push delivery to | median s | p95 s | min s | max s |")
        print("|---|---|---|---|---|")
        print(row(f"{shape}: both deliveries answered", found["answered"]))
        print(row(f"{shape}: `pending` on the merge commit", found["pending"]))
        print(row(f"{shape}: `success` on the merge commit", found["green"]))


if __name__ == "__main__":
    main()
