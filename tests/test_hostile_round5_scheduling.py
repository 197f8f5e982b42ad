"""A pod template that takes the control plane's own priority, on the real control plane.

Kubernetes ships two PriorityClasses for its own components, ``system-node-critical`` and
``system-cluster-critical``, and admits them in every namespace (limiting them is
left to a ResourceQuota the operator writes). A Pod with one outranks every app's Pod: the
scheduler evicts other apps' Pods anywhere in the cluster to make room for it, and the
kubelet evicts them first under node pressure. So an app's repository could push every
other app off the nodes it wants. The guard refuses such a template unless the app is one
that runs node agents (``pod_security: privileged``). The control plane here runs the
scheduler and kwok's fake nodes, so the Pod the opt-in applies is admitted and scheduled.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.dynamic import DynamicClient

from tests.gitops import GitOps, deployment, dump, live
from tests.test_hostile_guard import app_config, sync
from webhook.guard import GuardError, check
from webhook.render import Rendered

#: The value of each class, which the API server writes into the Pod's ``spec.priority``.
VALUES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}


def pod(name: str, priority_class: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "priorityClassName": priority_class,
            "containers": [{"name": "app", "image": "registry.example/app:1"}],
        },
    }


@pytest.mark.parametrize("priority_class", sorted(VALUES))
def test_a_pod_with_the_control_planes_priority_is_refused_unless_the_app_runs_node_agents(
    gitops_with_nodes: GitOps, dyn_with_nodes: DynamicClient, priority_class: str
) -> None:
    ops, admin = gitops_with_nodes, dyn_with_nodes
    ns = ops.namespace
    the_app = app_config("shop", ns, health_timeout=60)
    sha = ops.commit({"apps/shop/pod.yaml": dump(pod("grab", priority_class))})
    result = sync(ops, the_app, sha)
    assert result.error_kind == "guard"
    assert list(result.errors) == [
        f"apps/shop/pod.yaml:1: Pod grab: spec.priorityClassName '{priority_class}' is the "
        "control plane's own priority: the scheduler would evict other apps' Pods anywhere "
        "in the cluster to make room for these; use a priority class of the cluster's "
        "operators, or set pod_security: privileged on app shop if it runs node agents"
    ]
    assert live(admin, "Pod", "grab", ns) is None
    # What the guard stops: the API server admits it in the app's namespace, at a priority
    # above every app's.
    result = sync(ops, the_app.model_copy(update={"pod_security": "privileged"}), sha)
    assert result.ok, result.error
    assert live(admin, "Pod", "grab", ns)["spec"]["priority"] == VALUES[priority_class]


def test_every_kind_that_holds_pods_is_checked_where_its_template_lives() -> None:
    app = app_config("shop", "shop")
    held = deployment("web")
    held["spec"]["template"]["spec"]["priorityClassName"] = "system-cluster-critical"
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "tick"},
        "spec": {
            "schedule": "* * * * *",
            "jobTemplate": {
                "spec": {"template": {"spec": pod("x", "system-node-critical")["spec"]}}
            },
        },
    }
    fine = deployment("ok")
    fine["spec"]["template"]["spec"]["priorityClassName"] = "high"  # the operators' own
    objects = [Rendered(body=b, source="a.yaml:1") for b in (held, cron, fine)]
    with pytest.raises(GuardError) as caught:
        check(objects, app, lambda api_version, kind: True)
    starts = [e.split(" is the control plane's")[0] for e in caught.value.errors]
    assert starts == [
        "a.yaml:1: Deployment web: spec.template.spec.priorityClassName 'system-cluster-critical'",
        "a.yaml:1: CronJob tick: spec.jobTemplate.spec.template.spec.priorityClassName "
        "'system-node-critical'",
    ]
