"""Receiver benchmark: signed delivery -> 2xx latency of a real ``webhook-deployer web``.

Runs side by side in one process tree, so the machine's noise hits every variant alike:
- ``ping``: signature check and JSON parse only (no store write): the floor;
- ``push/sqlite``: a push that enqueues 3 jobs, committed to SQLite (WAL, synchronous=FULL);
- ``push/postgres``: the same into PostgreSQL (a local server, fsync off as in the tests).
Also the app lookup: the index against a scan of every app for every file, 5,000 apps.

    .venv/bin/python -m bench.receiver [--requests N]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.github.deliveries import Delivery
from tests.github.examples import branch_push, example
from tests.plugins.postgres import create_database, running_postgres
from tests.processes import free_port, spawn, wait_ready
from webhook.affected import RecordedInputs, inputs_key
from webhook.events import AppIndex
from webhook.queue import sqlite_store
from webhook.settings import AppConfig

SECRET = b"bench secret"


def _serve(tmp: Path, database_url: str) -> tuple[subprocess.Popen[bytes], str]:
    config = tmp / "deployer.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "apps": [
                    {
                        "name": n,
                        "repo": "Codertocat/Hello-World",
                        "branch": "master",
                        "path": f"apps/{n}",
                        "namespace": n,
                    }
                    for n in ("web", "db", "cache")
                ]
            }
        )
    )
    port = free_port()
    env = {"GITHUB_WEBHOOK_SECRET": SECRET.decode(), "DEPLOYER_DATABASE_URL": database_url}
    extra = ("--workers", "2", "--threads", "4")
    proc = spawn("web", config, port, env, extra=extra)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, proc)
    return proc, url


def _latencies(url: str, make: Callable[[int], Delivery], n: int) -> list[float]:
    session = requests.Session()
    out = []
    for i in range(n):
        delivery = make(i)
        body, headers = delivery.body, delivery.headers()
        start = time.perf_counter()
        response = session.post(f"{url}/webhooks/github", data=body, headers=headers, timeout=10)
        out.append((time.perf_counter() - start) * 1000)
        assert response.status_code in (200, 202), response.text
    return out


def _push(i: int) -> Delivery:
    payload = branch_push()
    payload["after"] = f"{i:040x}"
    return Delivery("push", payload, SECRET)


def _row(name: str, samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=100)
    return (
        f"| {name} | {len(samples)} | {statistics.median(samples):.2f} | {q[94]:.2f} "
        f"| {q[98]:.2f} |"
    )


def lookup_bench() -> str:
    """5,000 apps, each with recorded inputs (its own folder and a shared base file), read
    from a SQLite store per lookup as the receiver does."""
    apps = [
        AppConfig(name=f"app-{i}", repo="acme/gitops", path=f"apps/app-{i}", namespace="ns")
        for i in range(5000)
    ]
    files = [f"apps/app-{i}/deploy/deployment.yaml" for i in range(0, 5000, 50)]
    with tempfile.TemporaryDirectory() as tmp:
        store = sqlite_store(Path(tmp) / "inputs.db")
        for app in apps:
            paths = (f"bases/base-{app.name[-1]}/kustomization.yaml",)
            store.record_inputs(
                app.name, RecordedInputs(key=inputs_key(app), commit="c" * 40, paths=paths)
            )
        index = AppIndex(apps, inputs=store.recorded_inputs)

        def scan() -> Any:
            return [a for a in apps if any(f.startswith(a.path + "/") for f in files)]

        def indexed() -> Any:
            return index.touched("acme/gitops", "main", files)

        assert [a.name for a in scan()] == [a.name for a in indexed()]
        times: dict[str, list[float]] = {"scan": [], "index": []}
        for _ in range(15):
            for name, fn in (("scan", scan), ("index", indexed)):
                start = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - start) * 1000)
        store.close()
    s, x = statistics.median(times["scan"]), statistics.median(times["index"])
    return (
        f"App lookup, 5,000 apps with recorded inputs read from the store, a push of "
        f"{len(files)} files: folder scan alone {s:.2f} ms, index {x:.2f} ms (median of 15)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    n = parser.parse_args().requests
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name, running_postgres() as pg:
        tmp = Path(tmp_name)
        servers = {
            "sqlite": _serve(tmp, f"sqlite:///{tmp / 'bench.db'}"),
            "postgres": _serve(tmp, create_database(pg)),
        }
        try:
            results: dict[str, list[float]] = {"ping": [], "push/sqlite": [], "push/postgres": []}
            # Interleave the variants in rounds so drift in machine load hits them alike.
            for round_ in range(4):
                base = round_ * n
                results["ping"] += _latencies(
                    servers["sqlite"][1],
                    lambda i: Delivery("ping", example("ping"), SECRET),
                    n // 4,
                )
                results["push/sqlite"] += _latencies(
                    servers["sqlite"][1], lambda i, b=base: _push(b + i), n // 4
                )
                results["push/postgres"] += _latencies(
                    servers["postgres"][1], lambda i, b=base: _push(b + i), n // 4
                )
        finally:
            for proc, _ in servers.values():
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
    rows = [_row(name, samples) for name, samples in results.items()]
    print("| delivery | n | median ms | p95 ms | p99 ms |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    ratio = statistics.median(results["push/sqlite"]) / statistics.median(results["ping"])
    print(f"\npush/sqlite over ping (median): {ratio:.2f}x")
    print(lookup_bench())


if __name__ == "__main__":
    main()
