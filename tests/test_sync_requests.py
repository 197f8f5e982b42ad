"""What a first sync of a small app costs in API requests (the fleet's profile, see
BENCHMARKS.md "Fleet"), counted in the API server's audit log on a cluster whose Pods
become Ready."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from tests.audit import AuditLog
from tests.gitops import cm, deployment, dump, make_gitops, service
from webhook.kube.applyset import ApplySet


def test_a_first_sync_watches_its_deployment_from_the_apply_and_writes_its_new_parent_once(
    tmp_path: Path, control_plane_with_nodes: Any, namespace_with_nodes: str
) -> None:
    ops = make_gitops(tmp_path, control_plane_with_nodes.kubeconfig, namespace_with_nodes)
    audit = AuditLog(
        control_plane_with_nodes.dir / "audit.log", control_plane_with_nodes.kubeconfig
    )
    sha = ops.commit(
        {"apps/shop/app.yaml": dump(cm("settings"), service("web"), deployment("web"))}
    )
    mark = audit.mark()
    result = ops.sync(sha, health_timeout=120)
    assert result.ok, result.error
    sent = [r for r in audit.since(mark) if r.namespace == namespace_with_nodes]
    web = Counter(
        f"{r.verb}{' dry run' if r.dry_run else ''}"
        for r in sent
        if (r.resource, r.name) == ("deployments", "web")
    )
    # Read once to plan, dry run, apply, then one watch from the apply's answer: no read
    # between the apply and the watch.
    assert web == Counter({"get": 1, "patch dry run": 1, "patch": 1, "watch": 1})
    parent = ApplySet(ops.app.name, namespace_with_nodes).ref.name
    writes = [(r.verb, r.dry_run) for r in sent if (r.resource, r.name) == ("configmaps", parent)]
    # The parent did not exist: written without a dry run first (it cannot be unchanged).
    assert writes.count(("patch", True)) == 0
    assert writes.count(("patch", False)) >= 1
