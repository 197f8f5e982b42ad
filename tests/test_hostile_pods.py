"""Hostile pods on the real control plane: a repository that asks for its node.

A namespace without Pod Security labels admits anything (Kubernetes' own admission enforces
nothing there), so a privileged hostPath Pod would own its node. The guard refuses it before
anything is applied, unless the app says it runs node agents (``pod_security: privileged``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.dynamic import DynamicClient

from tests.gitops import GitOps, cm, deployment, dump, live, make_gitops

NODE_ACCESS = {
    "securityContext": {"privileged": True},
    "volumeMounts": [{"name": "node", "mountPath": "/host"}],
}


def root_pod(name: str) -> dict[str, Any]:
    container = {"name": "app", "image": "registry.example/app:1", **NODE_ACCESS}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "containers": [container],
            "volumes": [{"name": "node", "hostPath": {"path": "/"}}],
        },
    }


def root_deployment(name: str) -> dict[str, Any]:
    body = deployment(name)
    spec = body["spec"]["template"]["spec"]
    spec["containers"][0].update(copy.deepcopy(NODE_ACCESS))
    spec["volumes"] = [{"name": "node", "hostPath": {"path": "/"}}]
    return body


@pytest.mark.parametrize(
    ("body", "where"),
    [(root_pod("root"), "spec."), (root_deployment("root"), "spec.template.spec.")],
    ids=["pod", "deployment"],
)
def test_a_privileged_host_path_pod_is_refused_where_kubernetes_would_admit_it(
    gitops: GitOps,
    dyn: DynamicClient,
    k8s_api_client: client.ApiClient,
    body: dict[str, Any],
    where: str,
) -> None:
    ns, kind = gitops.namespace, body["kind"]
    namespace_labels = live(dyn, "Namespace", ns, None)["metadata"].get("labels") or {}
    assert not [k for k in namespace_labels if k.startswith("pod-security.kubernetes.io/")]
    # Kubernetes itself would take it: a server-side dry run as admin goes through.
    api = body["apiVersion"]
    dyn.resources.get(api_version=api, kind=kind).create(body=body, namespace=ns, dry_run="All")
    sha = gitops.commit({"apps/shop/app.yaml": dump(body, cm("fine"))})
    result = gitops.sync(sha)
    assert result.error_kind == "guard"
    assert result.errors == (
        f'apps/shop/app.yaml:1: {kind} root: {where}volumes["node"]: hostPath volumes are not '
        "allowed (pod_security: baseline)",
        f'apps/shop/app.yaml:1: {kind} root: container "app": securityContext.privileged is true '
        "(pod_security: baseline)",
    )
    assert live(dyn, kind, "root", ns, api) is None
    assert live(dyn, "ConfigMap", "fine", ns) is None
    assert live(dyn, "ConfigMap", "applyset-shop", ns) is None


def test_an_app_that_runs_node_agents_opts_out_with_pod_security_privileged(
    tmp_path: Path, control_plane_with_nodes: Any, namespace_with_nodes: str
) -> None:
    ops = make_gitops(tmp_path, control_plane_with_nodes.kubeconfig, namespace_with_nodes)
    sha = ops.commit({"apps/shop/agent.yaml": dump(root_pod("agent"), root_deployment("agents"))})
    result = ops.sync(sha, pod_security="privileged", health_timeout=120)
    assert result.ok, result.error
    assert set(result.created) == {
        f"Pod {namespace_with_nodes}/agent",
        f"Deployment {namespace_with_nodes}/agents",
    }
    api = config.new_client_from_config(config_file=str(ops.kubeconfig))
    try:
        pod = client.CoreV1Api(api).read_namespaced_pod("agent", namespace_with_nodes)
        assert pod.spec.containers[0].security_context.privileged is True
        assert pod.spec.volumes[0].host_path.path == "/"
    finally:
        api.close()
