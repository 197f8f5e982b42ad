"""The per-tier apply concurrency: the objects of one tier are applied up to
``MAX_PARALLEL`` at a time, and a tier starts only once the one before it is done.

Against the real API server. The engine's own ``Cluster.applied`` is wrapped (the real call
still goes out) to count the applies in flight; each apply is held until every one that can
be in flight at once is (``MAX_PARALLEL``, or what is left of its tier), so the overlap seen
does not depend on how fast the server answers on a busy machine.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.gitops import cm, dump, make_gitops, service
from webhook.kube import client as kube_client
from webhook.kube.apply import MAX_PARALLEL

CONFIG_MAPS = 2 * MAX_PARALLEL + 3
SERVICES = 3


class InFlight:
    """Counts concurrent real (not dry-run) applies of the test's objects, per kind."""

    def __init__(self, expected: dict[str, int]) -> None:
        self.expected = expected
        self.done: Counter[str] = Counter()
        self.now: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        self.mixed: list[str] = []  # an apply that began while another kind's was in flight
        self.lock = threading.Condition()

    def wrap(self, original: Any) -> Any:
        def apply(cluster: Any, resource: Any, body: Any, *, dry_run: bool, force: bool) -> Any:
            kind, name = body["kind"], body["metadata"]["name"]
            if dry_run or not name.startswith("t-"):
                return original(cluster, resource, body, dry_run=dry_run, force=force)
            with self.lock:
                if any(n for k, n in self.now.items() if k != kind):
                    self.mixed.append(name)
                self.now[kind] += 1
                self.most[kind] = max(self.most[kind], self.now[kind])
                self.lock.notify_all()
                self.lock.wait_for(
                    lambda: (
                        self.now[kind] >= min(MAX_PARALLEL, self.expected[kind] - self.done[kind])
                    ),
                    timeout=10,
                )
            try:
                return original(cluster, resource, body, dry_run=dry_run, force=force)
            finally:
                with self.lock:
                    self.now[kind] -= 1
                    self.done[kind] += 1
                    self.lock.notify_all()

        return apply


def test_a_tier_is_applied_up_to_max_parallel_at_a_time_and_tiers_one_after_another(
    tmp_path: Path, kubeconfig: Path, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = InFlight({"ConfigMap": CONFIG_MAPS, "Service": SERVICES})
    monkeypatch.setattr(kube_client.Cluster, "applied", seen.wrap(kube_client.Cluster.applied))
    objects = [service(f"t-s{i}") for i in range(SERVICES)]
    objects += [cm(f"t-c{i}") for i in range(CONFIG_MAPS)]
    ops = make_gitops(tmp_path, kubeconfig, namespace)
    result = ops.sync(ops.commit({"apps/shop/all.yaml": dump(*objects)}))
    assert result.ok, result.error
    assert seen.done == {"ConfigMap": CONFIG_MAPS, "Service": SERVICES}
    assert seen.most == {"ConfigMap": MAX_PARALLEL, "Service": SERVICES}
    assert seen.mixed == []
