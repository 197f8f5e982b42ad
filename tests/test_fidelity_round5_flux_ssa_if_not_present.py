"""Flux's ``kustomize.toolkit.fluxcd.io/ssa: IfNotPresent``: created once, then left alone.

Flux repositories mark objects git only seeds with it, as an annotation or a label: a
VolSync bootstrap ``ReplicationDestination``, a PVC whose ``dataSourceRef`` is immutable, a
ConfigMap of defaults that a task then edits in place (seen in public Flux home-lab
repositories). kustomize-controller creates such an object when it is missing and never
applies it again once it exists (fluxcd/pkg ``ssa.ResourceManager.shouldSkipApply``, its
selector matched on labels and annotations, the value in any case); ``ssa: Ignore`` skips
the apply of an existing object the same way. The deployer applied it on every sync: the
next commit (and every drift check's self-heal) reverted the live edit Flux leaves in place.

Flux cannot run here: the reference is that rule, read from fluxcd/pkg, and what the real API
server stores and records in its audit log. The fixture is written anew.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from tests.audit import AuditLog
from tests.gitops import cm, dump, make_gitops
from tests.plugins.cluster import ControlPlane

SSA = "kustomize.toolkit.fluxcd.io/ssa"


def _seeded(name: str, country: str, where: str, value: str) -> dict[str, Any]:
    body = cm(name)
    body["data"] = {"country": country}
    body["metadata"][where] = {SSA: value}
    return body


def _data(cp: ControlPlane, namespace: str, name: str) -> dict[str, str]:
    api = config.new_client_from_config(config_file=str(cp.kubeconfig))
    try:
        return dict(client.CoreV1Api(api).read_namespaced_config_map(name, namespace).data)
    finally:
        api.close()


def _edit_live(cp: ControlPlane, namespace: str, name: str, country: str) -> None:
    """What a task or an operator does to the seeded object: its own field manager."""
    api = config.new_client_from_config(config_file=str(cp.kubeconfig))
    try:
        client.CoreV1Api(api).patch_namespaced_config_map(
            name, namespace, {"data": {"country": country}}, field_manager="vpn-task"
        )
    finally:
        api.close()


@pytest.mark.parametrize(
    ("where", "value"),
    [("annotations", "IfNotPresent"), ("labels", "IfNotPresent"), ("annotations", "ignore")],
    ids=["annotation", "label", "ignore-any-case"],
)
def test_a_seeded_object_is_created_then_never_applied_again(
    control_plane: ControlPlane,
    api_audit: AuditLog,
    namespace: str,
    tmp_path: Path,
    where: str,
    value: str,
) -> None:
    ops = make_gitops(tmp_path, control_plane.kubeconfig, namespace)
    first = dump(_seeded("vpn-config", "nl", where, value), cm("plain", "1"))
    result = ops.sync(ops.commit({"apps/shop/config.yaml": first}))
    assert result.ok, result.errors
    assert _data(control_plane, namespace, "vpn-config") == {"country": "nl"}

    _edit_live(control_plane, namespace, "vpn-config", "se")
    later = dump(_seeded("vpn-config", "de", where, value), cm("plain", "2"))
    mark = api_audit.mark()
    result = ops.sync(ops.commit({"apps/shop/config.yaml": later}))

    assert result.ok, result.errors
    assert _data(control_plane, namespace, "vpn-config") == {"country": "se"}
    assert _data(control_plane, namespace, "plain") == {"value": "2"}
    writes = [(r.resource, r.name) for r in api_audit.since(mark) if r.write]
    assert ("configmaps", "plain") in writes
    assert ("configmaps", "vpn-config") not in writes
    assert f"ConfigMap {namespace}/vpn-config" in result.unchanged
