"""Prove the test control plane is a real Kubernetes, not a mock.

Each test exercises behaviour a mock would get wrong: server-side apply conflicts between
field managers, dryRun=All, CRDs that must be Established before use, RBAC, and (with
kwok nodes) real scheduling and rollouts by the controller-manager and scheduler.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ConflictError, DynamicApiError, NotFoundError

from tests.gitops import widget_crd
from tests.plugins.cluster import ControlPlane


def wait_until(what: str, cond: Callable[[], bool], timeout: float = 60) -> None:
    """Poll cond() until true; fail with `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def dynamic(api: client.ApiClient, tmp_path: Path) -> DynamicClient:
    """A DynamicClient with its own discovery cache file (never shared between clusters)."""
    return DynamicClient(api, cache_file=str(tmp_path / "discovery.json"))


@pytest.fixture
def dyn(k8s_api_client: client.ApiClient, tmp_path: Path) -> DynamicClient:
    return dynamic(k8s_api_client, tmp_path)


@pytest.fixture
def dyn_nodes(control_plane_with_nodes: ControlPlane, tmp_path: Path) -> Iterator[DynamicClient]:
    api = config.new_client_from_config(config_file=str(control_plane_with_nodes.kubeconfig))
    yield dynamic(api, tmp_path)
    api.close()


def configmap(namespace: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ssa", "namespace": namespace},
        "data": {"key": value},
    }


def managers_of_key(obj: Any) -> set[str]:
    """Field managers that own .data.key, from metadata.managedFields."""
    return {
        m["manager"]
        for m in obj.to_dict()["metadata"].get("managedFields", [])
        if "f:key" in m.get("fieldsV1", {}).get("f:data", {})
    }


def test_server_version_is_real(dyn: DynamicClient) -> None:
    """The version ldflags were set: helm and kubeVersion checks rely on it."""
    info = dyn.version["kubernetes"]
    assert info["gitVersion"].startswith("v1.34."), info
    assert (info["major"], info["minor"]) == ("1", "34")


def test_server_side_apply_conflict_needs_force(dyn: DynamicClient, namespace: str) -> None:
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    dyn.server_side_apply(cms, body=configmap(namespace, "one"), field_manager="deployer")

    with pytest.raises(ConflictError) as conflict:
        dyn.server_side_apply(cms, body=configmap(namespace, "two"), field_manager="intruder")
    assert conflict.value.status == 409
    assert "deployer" in str(conflict.value.body)
    obj = dyn.get(cms, name="ssa", namespace=namespace)
    assert obj.data.key == "one"
    assert managers_of_key(obj) == {"deployer"}

    obj = dyn.server_side_apply(
        cms, body=configmap(namespace, "two"), field_manager="intruder", force_conflicts=True
    )
    assert obj.data.key == "two"
    assert managers_of_key(obj) == {"intruder"}


def test_apply_without_field_manager_is_rejected(dyn: DynamicClient, namespace: str) -> None:
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    with pytest.raises(DynamicApiError) as err:
        dyn.server_side_apply(cms, body=configmap(namespace, "x"))
    assert err.value.status in (400, 422)
    assert "fieldManager" in str(err.value.body)


def test_dry_run_all_changes_nothing(dyn: DynamicClient, namespace: str) -> None:
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    # A create in dry-run returns the would-be object but stores nothing.
    preview = dyn.server_side_apply(
        cms, body=configmap(namespace, "one"), field_manager="deployer", dry_run="All"
    )
    assert preview.data.key == "one"
    with pytest.raises(NotFoundError):
        dyn.get(cms, name="ssa", namespace=namespace)

    # An update in dry-run leaves value and resourceVersion untouched.
    real = dyn.server_side_apply(cms, body=configmap(namespace, "one"), field_manager="deployer")
    preview = dyn.server_side_apply(
        cms, body=configmap(namespace, "two"), field_manager="deployer", dry_run="All"
    )
    assert preview.data.key == "two"
    after = dyn.get(cms, name="ssa", namespace=namespace)
    assert after.data.key == "one"
    assert after.metadata.resourceVersion == real.metadata.resourceVersion


def test_crd_established_then_custom_resource(dyn: DynamicClient, namespace: str) -> None:
    group = f"t{uuid.uuid4().hex[:10]}.test.webhook-deployer.dev"  # cluster-scoped: unique
    crd_name = f"widgets.{group}"
    crds = dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    crd = widget_crd(group, {"properties": {"size": {"type": "integer", "minimum": 1}}})
    dyn.server_side_apply(crds, body=crd, field_manager="deployer")
    try:

        def established() -> bool:
            conds = dyn.get(crds, name=crd_name).to_dict().get("status", {}).get("conditions")
            return any(c["type"] == "Established" and c["status"] == "True" for c in conds or [])

        wait_until(f"CRD {crd_name} Established", established, timeout=30)
        dyn.resources.invalidate_cache()  # discovery was cached before the CRD existed
        widgets = dyn.resources.get(api_version=f"{group}/v1", kind="Widget")
        widget = {
            "apiVersion": f"{group}/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "namespace": namespace},
            "spec": {"size": 3},
        }
        obj = dyn.server_side_apply(widgets, body=widget, field_manager="deployer")
        assert obj.spec.size == 3
        assert dyn.get(widgets, name="w", namespace=namespace).spec.size == 3
        # The schema is enforced by the real apiserver.
        widget["spec"] = {"size": 0}
        with pytest.raises(DynamicApiError) as invalid:
            dyn.server_side_apply(widgets, body=widget, field_manager="deployer")
        assert invalid.value.status == 422
    finally:
        dyn.delete(crds, name=crd_name)


def test_rbac_refuses_serviceaccount_outside_its_namespace(
    dyn: DynamicClient, namespace: str, kubeconfig: Path, tmp_path: Path
) -> None:
    other = f"{namespace[:50]}-other"
    nss = dyn.resources.get(api_version="v1", kind="Namespace")
    dyn.create(nss, body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other}})
    try:
        sas = dyn.resources.get(api_version="v1", kind="ServiceAccount")
        roles = dyn.resources.get(api_version="rbac.authorization.k8s.io/v1", kind="Role")
        bindings = dyn.resources.get(api_version="rbac.authorization.k8s.io/v1", kind="RoleBinding")
        meta = {"name": "limited", "namespace": namespace}
        dyn.create(sas, body={"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta})
        dyn.create(
            roles,
            body={
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": meta,
                "rules": [
                    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}
                ],
            },
        )
        dyn.create(
            bindings,
            body={
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": meta,
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "limited",
                },
                "subjects": [{"kind": "ServiceAccount", "name": "limited", "namespace": namespace}],
            },
        )

        api = config.new_client_from_config(config_file=str(kubeconfig))
        try:
            api.set_default_header("Impersonate-User", f"system:serviceaccount:{namespace}:limited")
            core = client.CoreV1Api(api)

            def allowed_at_home() -> bool:
                try:
                    core.list_namespaced_config_map(namespace)
                except client.ApiException as e:
                    if e.status == 403:  # the RBAC informer has not seen the binding yet
                        return False
                    raise
                return True

            wait_until("the RoleBinding to take effect", allowed_at_home, timeout=15)
            for verb in (
                lambda: core.list_namespaced_config_map(other),
                lambda: core.list_namespaced_secret(namespace),
            ):
                with pytest.raises(client.ApiException) as denied:
                    verb()
                assert denied.value.status == 403
                assert f"system:serviceaccount:{namespace}:limited" in str(denied.value.body)
        finally:
            api.close()
        # The same request as admin works: the refusal is RBAC, not a missing namespace.
        dyn.get(dyn.resources.get(api_version="v1", kind="ConfigMap"), namespace=other)
    finally:
        dyn.delete(nss, name=other)


def deployment(namespace: str, name: str, replicas: int, **pod_spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}], **pod_spec},
            },
        },
    }


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    conds = obj.get("status", {}).get("conditions") or []
    return next((c for c in conds if c["type"] == type_), None)


def test_deployment_rolls_out_on_fake_nodes(
    dyn_nodes: DynamicClient, namespace_with_nodes: str
) -> None:
    ns = namespace_with_nodes
    deps = dyn_nodes.resources.get(api_version="apps/v1", kind="Deployment")
    pods = dyn_nodes.resources.get(api_version="v1", kind="Pod")
    dyn_nodes.server_side_apply(deps, body=deployment(ns, "web", 3), field_manager="deployer")

    def available() -> bool:
        d = dyn_nodes.get(deps, name="web", namespace=ns).to_dict()
        st = d.get("status", {})
        cond = condition(d, "Available")
        return (
            st.get("observedGeneration") == d["metadata"]["generation"]
            and st.get("readyReplicas") == 3
            and st.get("availableReplicas") == 3
            and st.get("updatedReplicas") == 3
            and cond is not None
            and cond["status"] == "True"
        )

    wait_until("Deployment web Available with 3 ready replicas", available, timeout=60)
    items = dyn_nodes.get(pods, namespace=ns, label_selector="app=web").to_dict()["items"]
    assert len(items) == 3
    for pod in items:
        assert pod["status"]["phase"] == "Running"
        assert pod["spec"]["nodeName"].startswith("kwok-node-")
        owner = pod["metadata"]["ownerReferences"][0]
        assert owner["kind"] == "ReplicaSet"


def test_unschedulable_deployment_stays_unavailable(
    dyn_nodes: DynamicClient, namespace_with_nodes: str
) -> None:
    ns = namespace_with_nodes
    deps = dyn_nodes.resources.get(api_version="apps/v1", kind="Deployment")
    pods = dyn_nodes.resources.get(api_version="v1", kind="Pod")
    body = deployment(ns, "stuck", 1, nodeSelector={"webhook-deployer.test/no-such-node": "true"})
    dyn_nodes.server_side_apply(deps, body=body, field_manager="deployer")

    def pod_list() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = dyn_nodes.get(
            pods, namespace=ns, label_selector="app=stuck"
        ).to_dict()["items"]
        return items

    def unschedulable() -> bool:
        items = pod_list()
        cond = condition(items[0], "PodScheduled") if items else None
        return cond is not None and cond["status"] == "False" and cond["reason"] == "Unschedulable"

    wait_until("the scheduler to report the Pod Unschedulable", unschedulable, timeout=30)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        assert not any(p["spec"].get("nodeName") for p in pod_list()), "a pod was scheduled"
        d = dyn_nodes.get(deps, name="stuck", namespace=ns).to_dict()
        assert not d.get("status", {}).get("availableReplicas")
        time.sleep(0.5)
    cond = condition(d, "Available")
    assert cond is not None
    assert cond["status"] == "False"
