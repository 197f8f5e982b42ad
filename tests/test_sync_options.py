"""Sync options on the real control plane (no nodes needed): immutable fields named or
recreated, Prune=false, hooks in a dry run (reported as hooks, checked, never written), Sync
hooks within their wave, and a hook that meets someone else's object."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.dynamic import DynamicClient

from tests.audit import AuditLog
from tests.gitops import GitOps, cm, deployment, dump, live

pytestmark = pytest.mark.usefixtures("no_stray_kubeconfig")

REPLACE = {"argocd.argoproj.io/sync-options": "Replace=true"}
FLUX_FORCE = {"kustomize.toolkit.fluxcd.io/force": "enabled"}


def frozen(value: str, **annotations: str) -> str:
    body = cm("settings", value)
    body["immutable"] = True
    if annotations:
        body["metadata"]["annotations"] = annotations
    return dump(body)


def test_a_deployments_new_selector_fails_the_dry_run_naming_the_field_and_the_fix(
    gitops: GitOps, api_audit: AuditLog
) -> None:
    first = gitops.commit({"apps/shop/web.yaml": dump(deployment("web"))})
    gitops.sync(first, health_timeout=0.1)  # no nodes: never healthy, but created
    moved = deployment("web")
    moved["spec"]["selector"]["matchLabels"] = {"app": "web", "tier": "front"}
    moved["spec"]["template"]["metadata"]["labels"] = {"app": "web", "tier": "front"}
    second = gitops.commit({"apps/shop/web.yaml": dump(moved)})
    mark = api_audit.mark()
    result = gitops.sync(second)
    assert result.error_kind == "dry-run"
    assert result.error == (
        f"Deployment {gitops.namespace}/web: spec.selector cannot change in place (the API "
        'server answers "field is immutable"); to let the deployer delete and recreate it, '
        "annotate it with argocd.argoproj.io/sync-options: Replace=true (or "
        "kustomize.toolkit.fluxcd.io/force: enabled), or delete it by hand"
    )
    assert [r for r in api_audit.since(mark) if r.write] == []


@pytest.mark.parametrize("annotations", [REPLACE, FLUX_FORCE], ids=["replace", "flux-force"])
def test_an_object_that_asks_for_it_is_recreated_when_an_immutable_field_changes(
    gitops: GitOps, dyn: DynamicClient, api_audit: AuditLog, annotations: dict[str, str]
) -> None:
    first = gitops.commit({"apps/shop/settings.yaml": frozen("1", **annotations)})
    assert gitops.sync(first).ok
    old = live(dyn, "ConfigMap", "settings", gitops.namespace)["metadata"]["uid"]
    second = gitops.commit({"apps/shop/settings.yaml": frozen("2", **annotations)})
    mark = api_audit.mark()
    result = gitops.sync(second)
    assert result.ok, result.error
    assert result.configured == (f"ConfigMap {gitops.namespace}/settings",)
    now = live(dyn, "ConfigMap", "settings", gitops.namespace)
    assert now["data"] == {"value": "2"} and now["metadata"]["uid"] != old
    writes = [(r.verb, r.resource) for r in api_audit.since(mark) if r.write]
    assert writes.index(("delete", "configmaps")) < writes.index(("patch", "configmaps"))


def test_without_the_option_an_immutable_change_fails_and_the_object_stays(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    assert gitops.sync(gitops.commit({"apps/shop/settings.yaml": frozen("1")})).ok
    result = gitops.sync(gitops.commit({"apps/shop/settings.yaml": frozen("2")}))
    assert result.error_kind == "dry-run"
    assert (result.error or "").startswith(
        f"ConfigMap {gitops.namespace}/settings: data cannot change in place"
    )
    assert live(dyn, "ConfigMap", "settings", gitops.namespace)["data"] == {"value": "1"}


def test_objects_annotated_prune_false_or_prune_disabled_are_never_pruned(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    kept = cm("kept", annotations={"argocd.argoproj.io/sync-options": "Prune=false"})
    flux = cm("flux", annotations={"kustomize.toolkit.fluxcd.io/prune": "disabled"})
    first = gitops.commit({"apps/shop/all.yaml": dump(kept, flux, cm("gone"))})
    assert gitops.sync(first, prune=True).ok
    second = gitops.commit(
        {"apps/shop/other.yaml": dump(cm("other"))}, remove=("apps/shop/all.yaml",)
    )
    ns = gitops.namespace
    planned = gitops.engine(prune=True).sync(gitops.app, second, dry_run=True)
    assert planned.pruned == (f"ConfigMap {ns}/gone",)
    result = gitops.sync(second, prune=True)
    assert result.ok, result.error
    assert result.pruned == (f"ConfigMap {ns}/gone",)
    assert live(dyn, "ConfigMap", "kept", ns) is not None
    assert live(dyn, "ConfigMap", "flux", ns) is not None


def hook_job(name: str, phase: str, **spec: object) -> dict[str, Any]:
    template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "x", "image": "x"}]}}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "annotations": {"argocd.argoproj.io/hook": phase}},
        "spec": {"template": template, **spec},
    }


def test_a_dry_run_reports_hooks_as_hooks_and_writes_nothing(
    gitops: GitOps, api_audit: AuditLog
) -> None:
    skipped = cm("scratch", annotations={"argocd.argoproj.io/hook": "Skip"})
    sha = gitops.commit(
        {
            "apps/shop/app.yaml": dump(
                cm("a"), hook_job("migrate", "PreSync"), hook_job("check", "PostSync"), skipped
            )
        }
    )
    mark = api_audit.mark()
    result = gitops.engine().sync(gitops.app, sha, dry_run=True)
    assert result.ok, result.error
    ns = gitops.namespace
    assert result.created == (f"ConfigMap {ns}/a",)
    assert [(h.object, h.phase, h.status) for h in result.hooks] == [
        (f"Job {ns}/migrate", "PreSync", "planned"),
        (f"Job {ns}/check", "PostSync", "planned"),
    ]
    sent = api_audit.since(mark)
    assert [r for r in sent if r.write] == []
    # Each hook was checked by the API server with a dry-run create.
    assert {(r.verb, r.resource) for r in sent if r.dry_run} >= {("create", "jobs")}


def test_a_hook_the_api_server_refuses_fails_the_dry_run_before_anything_is_written(
    gitops: GitOps, api_audit: AuditLog
) -> None:
    bad = hook_job("migrate", "PreSync", backoffLimit=-1)
    sha = gitops.commit({"apps/shop/app.yaml": dump(cm("a"), bad)})
    mark = api_audit.mark()
    result = gitops.sync(sha)
    assert result.error_kind == "dry-run"
    assert (result.error or "").startswith(f"hook Job {gitops.namespace}/migrate: ")
    assert "backoffLimit" in (result.error or "")
    assert [r for r in api_audit.since(mark) if r.write] == []


def test_a_services_new_cluster_ip_fails_naming_the_field(gitops: GitOps) -> None:
    def service(ip: str) -> str:
        body = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "db"},
            "spec": {"clusterIP": ip, "ports": [{"port": 5432}], "selector": {"app": "db"}},
        }
        return dump(body)

    assert gitops.sync(gitops.commit({"apps/shop/db.yaml": service("10.0.0.77")})).ok
    result = gitops.sync(gitops.commit({"apps/shop/db.yaml": service("10.0.0.78")}))
    assert result.error_kind == "dry-run"
    assert (result.error or "").startswith(
        f"Service {gitops.namespace}/db: spec.clusterIPs[0] cannot change in place"
    ), result.error


def test_sync_hooks_run_within_their_wave_after_its_members(
    gitops: GitOps, dyn: DynamicClient, api_audit: AuditLog
) -> None:
    wave = "argocd.argoproj.io/sync-wave"
    hook = cm(
        "marker",
        annotations={
            "argocd.argoproj.io/hook": "Sync",
            "argocd.argoproj.io/hook-delete-policy": "HookSucceeded",
            wave: "0",
        },
    )
    sha = gitops.commit(
        {"apps/shop/app.yaml": dump(cm("b", annotations={wave: "1"}), hook, cm("a"))}
    )
    mark = api_audit.mark()
    result = gitops.sync(sha)
    assert result.ok, result.error
    writes = [
        (r.verb, r.name) for r in api_audit.since(mark) if r.write and r.name != "applyset-shop"
    ]
    assert writes == [("patch", "a"), ("create", "marker"), ("delete", "marker"), ("patch", "b")]
    assert [(h.phase, h.status, h.deleted) for h in result.hooks] == [("Sync", "succeeded", True)]
    assert live(dyn, "ConfigMap", "marker", gitops.namespace) is None
    # Nothing to do the second time (a redelivery, a resync): no hook runs, nothing is written;
    # and a plan says so.
    assert gitops.engine().sync(gitops.app, sha, dry_run=True).hooks == ()
    mark = api_audit.mark()
    again = gitops.sync(sha)
    assert again.ok and again.hooks == ()
    assert [r for r in api_audit.since(mark) if r.write] == []


def test_a_hook_never_replaces_an_object_that_is_not_this_apps(
    gitops: GitOps, dyn: DynamicClient, k8s_api_client: client.ApiClient
) -> None:
    ns = gitops.namespace
    client.CoreV1Api(k8s_api_client).create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="theirs"), data={"v": "1"})
    )
    hook = cm("theirs", annotations={"argocd.argoproj.io/hook": "PreSync"})
    result = gitops.sync(gitops.commit({"apps/shop/app.yaml": dump(hook, cm("a"))}))
    assert result.error_kind == "hook"
    assert result.error == (
        f"ConfigMap {ns}/theirs exists and is not a hook of this app: never replaced"
    )
    assert live(dyn, "ConfigMap", "theirs", ns)["data"] == {"v": "1"}
    assert live(dyn, "ConfigMap", "a", ns) is None


def test_a_hook_that_does_not_finish_in_time_fails_and_hook_failed_deletes_it(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    stuck = hook_job("migrate", "PreSync")  # no nodes here: its Pod is never scheduled
    stuck["metadata"]["annotations"]["argocd.argoproj.io/hook-delete-policy"] = "HookFailed"
    result = gitops.sync(
        gitops.commit({"apps/shop/app.yaml": dump(cm("a"), stuck)}), health_timeout=1
    )
    ns = gitops.namespace
    assert result.error_kind == "hook"
    assert result.error == f"Job {ns}/migrate: not done after 1s (Job migrate: not started)"
    assert [(h.status, h.deleted) for h in result.hooks] == [("failed", True)]
    assert live(dyn, "Job", "migrate", ns, "batch/v1") is None
    assert live(dyn, "ConfigMap", "a", ns) is None
