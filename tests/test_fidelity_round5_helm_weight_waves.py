"""``helm.sh/hook-weight`` orders every object as Argo CD orders it: as its sync wave.

argoproj/argocd-example-apps (Apache-2.0), ``helm-hooks/manifests.yaml``: Argo CD's own
example of a repository written for Helm carries ``helm.sh/hook-weight: "2"`` on its
``frontend`` Service, an ordinary object (no ``helm.sh/hook``), beside a ReplicaSet without
one. Argo CD orders every object by gitops-engine's ``syncwaves.Wave``:
``argocd.argoproj.io/sync-wave`` when it is an integer, else ``helm.sh/hook-weight``, else 0,
hooks and ordinary objects alike. So the Service is in wave 2, applied once the ReplicaSet
(wave 0) is healthy, and a Helm hook that also carries ``sync-wave`` runs in that wave, not
its weight's. The deployer read the weight only on Helm hooks and never the wave on them: the
Service went in wave 0, before the ReplicaSet (Services come before workloads in the kind
order), and a hook with both annotations ran by its weight.

Argo CD cannot run here; the reference is gitops-engine's ``Wave`` as read from its source
(``pkg/sync/syncwaves/waves.go``), and the order of the writes the real API server records
in its audit log. The fixture is a reduced shape of that example, written anew.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.audit import AuditLog
from tests.gitops import dump, make_gitops
from webhook.hooks import Phase, split

IMAGE = "registry.k8s.io/pause:3.10"


def _meta(name: str, **annotations: str) -> dict[str, Any]:
    return {"name": name, "annotations": annotations} if annotations else {"name": name}


def replica_set(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": _meta(name),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": IMAGE}]},
            },
        },
    }


def weighted_service(name: str, weight: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, **{"helm.sh/hook-weight": weight}),
        "spec": {"selector": {"app": name}, "ports": [{"port": 80}]},
    }


def job_hook(name: str, **annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta(name, **annotations),
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": IMAGE}],
                }
            }
        },
    }


def test_a_hook_weight_on_an_ordinary_object_is_its_wave() -> None:
    order = split([replica_set("frontend"), weighted_service("frontend", "2")])

    assert order.waves == [0, 2]
    assert [b["kind"] for b in order.in_wave(2)] == ["Service"]


def test_a_sync_wave_on_a_helm_hook_wins_over_its_weight() -> None:
    waved = job_hook(
        "waved",
        **{
            "helm.sh/hook": "pre-install",
            "helm.sh/hook-weight": "-5",
            "argocd.argoproj.io/sync-wave": "3",
        },
    )
    weighted = job_hook("weighted", **{"helm.sh/hook": "pre-install", "helm.sh/hook-weight": "1"})
    order = split([waved, weighted])

    assert [(h.ref.name, h.wave) for h in order.hooks_in(Phase.PRE_SYNC)] == [
        ("weighted", 1),
        ("waved", 3),
    ]


def test_a_weighted_service_is_applied_after_the_replica_set_is_healthy(
    tmp_path: Path, control_plane_with_nodes: Any, namespace_with_nodes: str
) -> None:
    cp = control_plane_with_nodes
    audit = AuditLog(cp.dir / "audit.log", cp.kubeconfig)
    ops = make_gitops(tmp_path, cp.kubeconfig, namespace_with_nodes)
    manifests = dump(replica_set("frontend"), weighted_service("frontend", "2"))
    sha = ops.commit({"apps/shop/manifests.yaml": manifests})
    mark = audit.mark()

    result = ops.sync(sha, health_timeout=120.0)

    assert result.ok, result.errors
    writes = [(r.resource, r.name) for r in audit.since(mark) if r.write]
    assert writes.index(("replicasets", "frontend")) < writes.index(("services", "frontend"))
