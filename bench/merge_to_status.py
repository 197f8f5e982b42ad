"""Merge to green: a merge delivered to a real ``webhook-deployer serve``, until GitHub shows
the result. Everything is real but GitHub itself, which is the suite's local server checking
every call against GitHub's OpenAPI description.

For each round: commit a change (ConfigMap value and the pod template of a 2-replica
Deployment) to the repo, deliver the merge as GitHub does (a push, then the closed pull
request, both signed), and time until the deployer has posted ``pending`` and then
``success`` for ``deploy/<app>`` on the merge commit. The control plane runs kwok nodes, so
the Deployment really rolls out.

    .venv/bin/python -m bench.merge_to_status [--rounds N]
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
CONTEXT = "deploy/shop"


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    rounds = parser.parse_args().rounds
    work = Path(tempfile.mkdtemp(prefix="bench-merge-"))
    stack = ExitStack()
    kubeconfig = stack.enter_context(running_cluster(work / "cluster", nodes=2))
    github = GitHubApiServer()
    server = None
    try:
        repo = init(work / "repo", branch="master")
        config = work / "deployer.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "resync_interval": 0,
                    "apps": [
                        {
                            "name": "shop",
                            "repo": REPO,
                            "branch": "master",
                            "path": "apps/shop",
                            "namespace": "shop",
                            "allowed_namespaces": ["shop"],
                            "allowed_cluster_kinds": ["Namespace"],
                        }
                    ],
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
        answered, pending, green = [], [], []
        for version in range(rounds + 1):
            # Merges come minutes apart in life: let the previous round's reports (the PR
            # head's status, the comment) finish, and the write budget refill at GitHub's
            # sustained pace (one write a second; a merge costs about six), before timing the
            # next one.
            github_idle(github, quiet=6.0)
            files = {"apps/shop/app.yaml": yaml.safe_dump_all(manifests("shop", version))}
            sha = commit(repo, files, f"v{version}")
            push = branch_push()
            push.update(after=sha, created=False)
            push["commits"][0].update(id=sha, added=[], modified=["apps/shop/app.yaml"], removed=[])
            merge = merged_pull_request(sha)
            start = time.perf_counter()
            for event, payload in (("push", push), ("pull_request", merge)):
                delivery = Delivery(event, payload, SECRET)
                answer = requests.post(
                    f"{url}/webhooks/github",
                    data=delivery.body,
                    headers=delivery.headers(),
                    timeout=10,
                )
                assert answer.status_code in (200, 202), answer.text
            took_answer = time.perf_counter() - start
            seen_pending = None
            deadline = start + 120
            while time.perf_counter() < deadline:
                states = github.states(REPO, sha, CONTEXT)
                if seen_pending is None and "pending" in states:
                    seen_pending = time.perf_counter() - start
                if states and states[-1] in ("success", "failure", "error"):
                    break
                time.sleep(0.005)
            took_green = time.perf_counter() - start
            assert github.states(REPO, sha, CONTEXT)[-1] == "success", (
                github.states(REPO, sha, CONTEXT),
                (work / "serve.log").read_text()[-2000:],
            )
            if version == 0:
                continue  # the first round also creates the namespace and warms caches
            answered.append(took_answer)
            pending.append(seen_pending if seen_pending is not None else took_green)
            green.append(took_green)
        assert github.failures == []
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
        github.close()
        stack.close()
        shutil.rmtree(work, ignore_errors=True)

    def row(name: str, xs: list[float]) -> str:
        return f"| {name} | {statistics.median(xs):.3f} | {min(xs):.3f} | {max(xs):.3f} |"

    print(
        f"{len(green)} merges (each: push + pull_request deliveries, a ConfigMap change and "
        "a 2-replica rolling update)"
    )
    print("| from the push delivery to | median s | min s | max s |")
    print("|---|---|---|---|")
    print(row("both deliveries answered", answered))
    print(row("`pending` on the merge commit", pending))
    print(row("`success` on the merge commit", green))


if __name__ == "__main__":
    main()
