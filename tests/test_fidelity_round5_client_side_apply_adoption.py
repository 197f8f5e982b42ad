"""An object last written by client-side ``kubectl apply`` (Argo CD's default sync), adopted.

Migrating a live cluster from Argo CD or from ``kubectl apply`` means adopting objects whose
fields belong to the ``kubectl-client-side-apply`` manager (``adopt: true``). A server-side
apply removes only the fields its own manager owns, so a key git had dropped meanwhile (or
drops later) stayed on the live object for good, with the old
``kubectl.kubernetes.io/last-applied-configuration`` annotation. ``kubectl apply
--server-side`` first moves that manager's fields to its own (client-go
``util/csaupgrade``), and then removes them. Seen in any Argo CD install that never turned
on ``ServerSideApply=true`` (argoproj/argocd-example-apps' guestbook synced as it is).

The reference is the real ``kubectl apply`` then ``kubectl apply --server-side
--field-manager=webhook-deployer`` against the suite's API server, on a twin object: what
the API server stores for both must be the same.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from kubernetes import client, config

from tests.audit import AuditLog
from tests.gitops import dump, make_gitops
from tests.plugins.cluster import ControlPlane

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _config_map(name: str, namespace: str, data: dict[str, str], **labels: str) -> str:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = labels
    return dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})


def _kubectl(cp: ControlPlane, tmp: Path, *args: str, stdin: str) -> None:
    env = {"PATH": os.environ["PATH"], "KUBECONFIG": str(cp.kubeconfig), "HOME": str(tmp)}
    done = subprocess.run(
        ["kubectl", *args, "-f", "-"], input=stdin, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def _stored(cp: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    """What the API server keeps that a sync decides: data, labels, annotations, managers."""
    api = config.new_client_from_config(config_file=str(cp.kubeconfig))
    try:
        got = client.CoreV1Api(api).read_namespaced_config_map(name, namespace)
    finally:
        api.close()
    labels = {k: v for k, v in (got.metadata.labels or {}).items() if "applyset" not in k}
    return {
        "data": got.data,
        "labels": labels,
        "last-applied": LAST_APPLIED in (got.metadata.annotations or {}),
        "managers": sorted({f.manager for f in got.metadata.managed_fields or []}),
    }


def test_an_adopted_client_side_applied_object_loses_what_git_dropped_as_kubectl_ssa_does(
    control_plane: ControlPlane, api_audit: AuditLog, namespace: str, tmp_path: Path
) -> None:
    before = {"a": "1", "b": "2"}
    for name in ("ours", "ref"):
        old = _config_map(name, namespace, before, tier="web", team="shop")
        _kubectl(control_plane, tmp_path, "apply", stdin=old)
    now = _config_map("ref", namespace, {"a": "1"}, tier="web")
    ssa = ("apply", "--server-side", "--field-manager=webhook-deployer")
    _kubectl(control_plane, tmp_path, *ssa, stdin=now)

    ops = make_gitops(tmp_path, control_plane.kubeconfig, namespace)
    sha = ops.commit({"apps/shop/a.yaml": _config_map("ours", namespace, {"a": "1"}, tier="web")})
    result = ops.sync(sha, adopt=True)

    assert result.ok, result.errors
    reference = _stored(control_plane, namespace, "ref")
    assert reference == {
        "data": {"a": "1"},
        "labels": {"tier": "web"},
        "last-applied": False,
        "managers": ["webhook-deployer"],
    }
    assert _stored(control_plane, namespace, "ours") == reference

    mark = api_audit.mark()
    again = ops.sync(sha, adopt=True)
    assert again.ok, again.errors
    assert f"ConfigMap {namespace}/ours" in again.unchanged
    assert not [r for r in api_audit.since(mark) if r.write and r.name == "ours"]
