"""Hostile pull requests end to end: a signed ``pull_request`` delivery of a head commit an
attacker wrote, through the receiver, the worker with the real engine on the real control
plane, and the reporter to the local GitHub server. Each preview fails with a status naming
the cause; nothing is applied, nothing outside the checkout is read, and no request leaves
the machine (the sinkhole must receive nothing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from tests import gitrepo
from tests.github.examples import example
from tests.pipeline import REPO, Deployer, cm
from tests.plugins.sinkhole import Sinkhole
from tests.test_hostile_sources import write_chain

PREVIEW = "deploy-preview/shop"


def open_pull_request(deployer: Deployer, files: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """Commit ``files`` on a feature branch and deliver the pull request's ``opened`` event."""
    deployer.commit(cm("settings"))
    deployer.git("checkout", "--quiet", "-b", "feature")
    head = gitrepo.commit(deployer.origin, files)
    return head, deliver_preview(deployer, head)


def deliver_preview(deployer: Deployer, head: str) -> dict[str, Any]:
    payload = example("pull_request", where={"action": "opened"})
    payload["pull_request"]["head"]["sha"] = head
    deployer.deliver("pull_request", payload)
    deployer.work()
    deployer.report()
    return payload


def failed_preview(deployer: Deployer, head: str) -> str:
    status = deployer.github.last_status(REPO, head, PREVIEW)
    assert status is not None, "the preview reported no status"
    assert status["state"] == "failure", status
    return str(status["description"])


def nothing_applied(api: k8s.ApiClient, namespace: str) -> None:
    core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
    maps = [m.metadata.name for m in core.list_namespaced_config_map(namespace).items]
    assert [m for m in maps if m != "kube-root-ca.crt"] == []
    assert core.list_namespaced_pod(namespace).items == []
    assert apps.list_namespaced_deployment(namespace).items == []


def test_a_remote_kustomize_base_in_a_preview_fetches_nothing(
    deployer: Deployer, sinkhole: Sinkhole, k8s_api_client: k8s.ApiClient, namespace: str
) -> None:
    kustomization = {"resources": [f"{sinkhole.url}/x.yaml", "cm.yaml"]}
    head, _ = open_pull_request(
        deployer,
        {
            "apps/shop/kustomization.yaml": yaml.safe_dump(kustomization),
            "apps/shop/cm.yaml": cm("extra"),
            "apps/shop/app.yaml": "",
        },
    )
    description = failed_preview(deployer, head)
    assert "would fail" in description and "remote" in description
    assert sinkhole.connections == []
    nothing_applied(k8s_api_client, namespace)


def test_a_symlink_chain_in_a_preview_leaks_no_file_of_the_deployer(
    deployer: Deployer, tmp_path: Path, k8s_api_client: k8s.ApiClient, namespace: str
) -> None:
    secret = tmp_path / "outside" / "token"
    secret.parent.mkdir()
    secret.write_text("deployer-secret-token\n")
    deployer.commit(cm("settings"))
    deployer.git("checkout", "--quiet", "-b", "feature")
    gitrepo.commit(
        deployer.origin,
        {
            "apps/shop/Chart.yaml": "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
            "apps/shop/templates/cm.yaml": (
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leak}\n"
                'data: {a: {{ .Files.Get "a" | quote }}}\n'
            ),
        },
    )
    write_chain(deployer.origin / "apps/shop", secret)
    head = gitrepo.commit(deployer.origin, {})
    payload = deliver_preview(deployer, head)
    description = failed_preview(deployer, head)
    assert "symlink" in description
    comments = deployer.github.comments.get((REPO.lower(), payload["number"]), [])
    reported = [description, *(c["body"] for c in comments)]
    assert all("deployer-secret-token" not in text for text in reported)
    nothing_applied(k8s_api_client, namespace)


def test_a_privileged_host_path_pod_in_a_preview_would_fail_naming_the_field(
    deployer: Deployer, k8s_api_client: k8s.ApiClient, namespace: str
) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "root"},
        "spec": {
            "containers": [
                {"name": "c", "image": "busybox", "securityContext": {"privileged": True}}
            ],
            "volumes": [{"name": "host", "hostPath": {"path": "/"}}],
        },
    }
    head, _ = open_pull_request(deployer, {"apps/shop/app.yaml": yaml.safe_dump(pod)})
    description = failed_preview(deployer, head)
    assert "privileged" in description or "hostPath" in description
    nothing_applied(k8s_api_client, namespace)


@pytest.mark.parametrize(
    "name", ["../../kube-system/configmaps/x", "a/b", "%2e%2e"], ids=["traversal", "slash", "pct"]
)
def test_a_name_that_is_a_path_in_a_preview_would_fail_before_any_request(
    deployer: Deployer, k8s_api_client: k8s.ApiClient, namespace: str, name: str
) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}
    head, _ = open_pull_request(deployer, {"apps/shop/app.yaml": yaml.safe_dump(body)})
    description = failed_preview(deployer, head)
    assert "would fail" in description
    nothing_applied(k8s_api_client, namespace)
    kube_system = k8s.CoreV1Api(k8s_api_client).list_namespaced_config_map("kube-system")
    assert "x" not in {m.metadata.name for m in kube_system.items}
