"""Reads that need nothing from each other go out together: the bulk live read's LISTs, one per
kind, and the ApplySet parent's GET beside the plan's dry runs.

Against the real API server. The engine's own ``Cluster.list`` is wrapped (the real call still
goes out) to count the LISTs in flight; each is held until every kind's is in flight (for at
most a few seconds), so the overlap seen does not depend on how fast the server answers.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from tests.gitops import cm, dump, make_gitops, service
from webhook import sources
from webhook.kube import client as kube_client
from webhook.kube.live import MIN_GROUP

KINDS = ("ConfigMap", "Service", "ServiceAccount")


def account(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}


class Lists:
    """The most LISTs by ApplySet label in flight at once, per sync."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.kinds: list[str] = []
        self.lock = threading.Condition()

    def wrap(self, original: Any) -> Any:
        def list_(
            cluster: Any, resource: Any, *, namespace: str | None, label_selector: str
        ) -> Any:
            with self.lock:
                self.now += 1
                self.most = max(self.most, self.now)
                self.kinds.append(resource.kind)
                self.lock.notify_all()
                self.lock.wait_for(lambda: self.now >= len(KINDS), timeout=3)
            try:
                return original(
                    cluster, resource, namespace=namespace, label_selector=label_selector
                )
            finally:
                with self.lock:
                    self.now -= 1

        return list_


def test_each_kind_s_list_goes_out_at_the_same_time(
    tmp_path: Path, kubeconfig: Path, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = Lists()
    monkeypatch.setattr(kube_client.Cluster, "list", seen.wrap(kube_client.Cluster.list))
    objects = [cm(f"c{i}") for i in range(MIN_GROUP)]
    objects += [service(f"s{i}") for i in range(MIN_GROUP)]
    objects += [account(f"a{i}") for i in range(MIN_GROUP)]
    ops = make_gitops(tmp_path, kubeconfig, namespace)
    first = ops.sync(ops.commit({"apps/shop/all.yaml": dump(*objects)}))
    assert first.ok, first.error
    assert sorted(seen.kinds) == sorted(KINDS)  # one LIST per kind, not a GET per object
    assert seen.most == len(KINDS)


def test_the_applyset_parent_is_read_while_the_plan_dry_runs(
    tmp_path: Path, kubeconfig: Path, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan's first dry run waits (a few seconds at most) for the parent's GET to have
    started: read after the plan, as before, it would not have."""
    parent_read = threading.Event()
    seen: list[bool] = []
    get, apply = kube_client.Cluster.get, kube_client.Cluster.apply

    def noted_get(cluster: Any, resource: Any, name: str, namespace: str | None) -> Any:
        if resource.kind == "ConfigMap" and name.startswith("applyset-"):
            parent_read.set()
        return get(cluster, resource, name, namespace)

    def held_apply(cluster: Any, resource: Any, body: Any, *, dry_run: bool, force: bool) -> Any:
        if dry_run and not seen:
            seen.append(parent_read.wait(timeout=3))
        return apply(cluster, resource, body, dry_run=dry_run, force=force)

    monkeypatch.setattr(kube_client.Cluster, "get", noted_get)
    monkeypatch.setattr(kube_client.Cluster, "apply", held_apply)
    ops = make_gitops(tmp_path, kubeconfig, namespace)
    result = ops.sync(ops.commit({"apps/shop/all.yaml": dump(cm("settings"))}))
    assert result.ok, result.error
    assert seen == [True]


def test_the_next_sync_lists_the_app_s_kinds_while_it_fetches_the_commit(
    tmp_path: Path, kubeconfig: Path, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resync LISTs the groups its last plan read while git fetches the new commit: the
    fetch waits (a few seconds at most) for the ConfigMaps' LIST to have started, which a
    read only after the render would never do. The prefetched answer is used, not LISTed
    again; a kind the last sync did not have (Services) is read as before."""
    listed: list[str] = []
    list_started = threading.Event()
    original_list = kube_client.Cluster.list

    def noted_list(
        cluster: Any, resource: Any, *, namespace: str | None, label_selector: str
    ) -> Any:
        listed.append(resource.kind)
        list_started.set()
        return original_list(cluster, resource, namespace=namespace, label_selector=label_selector)

    monkeypatch.setattr(kube_client.Cluster, "list", noted_list)
    ops = make_gitops(tmp_path, kubeconfig, namespace)
    engine = ops.engine()  # one engine, as a worker keeps
    configmaps = [cm(f"c{i}") for i in range(MIN_GROUP)]
    first = engine.sync(ops.app, ops.commit({"apps/shop/all.yaml": dump(*configmaps)}))
    assert first.ok, first.error
    assert listed == ["ConfigMap"]

    waited: list[bool] = []
    ensure_commit = sources.Mirrors.ensure_commit

    def held_fetch(mirrors: Any, repo: str, remote: Any, sha: str) -> Any:
        waited.append(list_started.wait(timeout=3))
        return ensure_commit(mirrors, repo, remote, sha)

    listed.clear()
    list_started.clear()
    monkeypatch.setattr(sources.Mirrors, "ensure_commit", held_fetch)
    services = [service(f"s{i}") for i in range(MIN_GROUP)]
    changed = [cm(f"c{i}", "2") for i in range(MIN_GROUP)]
    second = engine.sync(ops.app, ops.commit({"apps/shop/all.yaml": dump(*changed, *services)}))
    assert second.ok, second.error
    assert waited[0] is True
    assert sorted(listed) == ["ConfigMap", "Service"]  # each LISTed once: the first early
    assert sorted(second.configured) == [f"ConfigMap {namespace}/c{i}" for i in range(MIN_GROUP)]
