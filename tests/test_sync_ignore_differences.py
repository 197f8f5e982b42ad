"""Fields other controllers own: a resync leaves an autoscaler's ``spec.replicas`` alone,
whether the manifest omits it or sets it under ``ignore_differences``; without that rule
the manifest's value wins (the control that shows the rule does the work)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import config
from kubernetes.dynamic import DynamicClient

from tests.gitops import GitOps, deployment, dump, live, make_gitops
from webhook.app_options import IgnoreDifference

REPLICAS = IgnoreDifference(group="apps", kind="Deployment", json_pointers=("/spec/replicas",))
BY_MANAGER = IgnoreDifference(
    group="apps", kind="Deployment", managed_fields_managers=("hpa-like-autoscaler",)
)


@pytest.fixture
def dyn(control_plane_with_nodes: Any) -> Iterator[DynamicClient]:
    api = config.new_client_from_config(config_file=str(control_plane_with_nodes.kubeconfig))
    yield DynamicClient(api)
    api.close()


@pytest.fixture
def ops(
    tmp_path: Path, control_plane_with_nodes: Any, namespace_with_nodes: str
) -> Iterator[GitOps]:
    yield make_gitops(tmp_path, control_plane_with_nodes.kubeconfig, namespace_with_nodes)


def _autoscale(dyn: DynamicClient, namespace: str, replicas: int) -> None:
    """What an HPA does: another field manager writes spec.replicas."""
    dyn.resources.get(api_version="apps/v1", kind="Deployment").patch(
        name="web",
        namespace=namespace,
        body={"spec": {"replicas": replicas}},
        content_type="application/merge-patch+json",
        field_manager="hpa-like-autoscaler",
    )


def _replicas(dyn: DynamicClient, namespace: str) -> int:
    return int(live(dyn, "Deployment", "web", namespace, "apps/v1")["spec"]["replicas"])


def test_a_field_the_manifest_omits_is_left_to_the_autoscaler(
    ops: GitOps, dyn: DynamicClient
) -> None:
    web = deployment("web")
    del web["spec"]["replicas"]
    sha = ops.commit({"apps/shop/web.yaml": dump(web)})
    assert ops.sync(sha).ok
    _autoscale(dyn, ops.namespace, 3)
    plan = ops.engine().sync(ops.app, sha, dry_run=True)
    assert plan.ok and plan.changed == 0, plan
    again = ops.sync(sha)
    assert again.ok and again.configured == (), again.errors
    assert _replicas(dyn, ops.namespace) == 3


@pytest.mark.parametrize(
    ("rules", "kept"),
    [((), False), ((REPLICAS,), True), ((BY_MANAGER,), True)],
    ids=["no-rule-the-manifest-wins", "json-pointer", "field-manager"],
)
def test_ignore_differences_keeps_the_live_value_of_a_field_the_manifest_sets(
    ops: GitOps, dyn: DynamicClient, rules: tuple[IgnoreDifference, ...], kept: bool
) -> None:
    sha = ops.commit({"apps/shop/web.yaml": dump(deployment("web", replicas=1))})
    assert ops.sync(sha, ignore_differences=rules).ok
    _autoscale(dyn, ops.namespace, 3)
    plan = ops.engine().sync(ops.app, sha, dry_run=True)
    assert plan.ok and (plan.changed == 0) is kept, plan
    diffs = ops.engine().changes(ops.app, sha)
    assert (diffs == []) is kept
    if not kept:
        assert "-  replicas: 3" in diffs[0].diff and "+  replicas: 1" in diffs[0].diff
    again = ops.sync(sha)
    assert again.ok, again.errors
    assert _replicas(dyn, ops.namespace) == (3 if kept else 1)
