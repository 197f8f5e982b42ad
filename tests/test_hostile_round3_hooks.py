"""Round 3 of the attacker's review: what a repository's hooks can make the deployer delete.

A hook's delete policy (BeforeHookCreation, the default, or HookSucceeded/HookFailed)
deletes the live object of its name when it is a member of the app "that has become a
hook". Made a hook, the app's own Namespace was deleted with everything in it, other apps'
objects too, past ``prune_cluster_scoped: false`` (a CRD takes every custom resource of its
kind with it). On the real control plane, with the controllers that finish a deletion.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as k8s

from tests.gitops import GitOps, dump, widget_crd
from webhook import hooks

HOOK = {hooks.HOOK: "PreSync"}


def test_the_apps_namespace_made_a_hook_is_refused_and_nothing_in_it_is_deleted(
    gitops: GitOps, k8s_api_client: k8s.ApiClient
) -> None:
    core = k8s.CoreV1Api(k8s_api_client)
    shared = f"{gitops.namespace[:50]}-shared"
    ns: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": shared}}
    options = {
        "allowed_namespaces": (gitops.namespace, shared),
        "allowed_cluster_kinds": ("Namespace",),
    }
    first = gitops.commit({"apps/shop/ns.yaml": dump(ns)})
    try:
        assert gitops.sync(first, **options).ok
        # Another team deploys into the namespace this app brings.
        core.create_namespaced_config_map(
            shared, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="theirs"), data={"a": "1"})
        )
        as_hook = {**ns, "metadata": {"name": shared, "annotations": HOOK}}
        result = gitops.sync(gitops.commit({"apps/shop/ns.yaml": dump(as_hook)}), **options)
        assert not result.ok
        assert result.error_kind == "guard"
        assert f"Namespace {shared}" in (result.error or "")
        assert "cannot be a hook" in (result.error or "")
        assert core.read_namespace(shared).status.phase == "Active"
        assert core.read_namespaced_config_map("theirs", shared).data == {"a": "1"}
    finally:
        core.delete_namespace(shared)


@pytest.mark.parametrize(
    ("body", "policy"),
    [
        ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}, None),
        (widget_crd("example.com", {}), "HookSucceeded"),
        ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"generateName": "x-"}}, None),
    ],
    ids=["namespace", "crd-deleted-after-success", "generated-namespace"],
)
def test_kinds_whose_deletion_takes_other_objects_are_no_hooks(
    body: dict[str, Any], policy: str | None
) -> None:
    """The guard's check (``hooks.problems``): Argo CD's and Helm's annotations alike."""
    for notes in (
        {hooks.HOOK: "PreSync", **({hooks.HOOK_DELETE_POLICY: policy} if policy else {})},
        {hooks.HELM_HOOK: "pre-install"},
    ):
        annotated = {**body, "metadata": {**body["metadata"], "annotations": notes}}
        [problem] = hooks.problems(annotated)
        assert "cannot be a hook" in problem


def test_a_job_hook_is_still_a_hook() -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate", "annotations": HOOK},
    }
    assert hooks.problems(job) == []


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ({"name": "migrate", "namespace": "kube-system"}, "namespace 'kube-system' is not allowed"),
        (
            {"generateName": "migrate-", "namespace": "other-team"},
            "namespace 'other-team' is not allowed",
        ),
    ],
    ids=["named", "generated"],
)
def test_a_hook_is_held_to_the_apps_namespaces_like_any_member(
    meta: dict[str, str], expected: str
) -> None:
    """Hooks are guarded with the members: one in a namespace the app may not use is
    refused before any request (the guard, with discovery's scopes as a test double)."""
    from webhook.guard import GuardError, check
    from webhook.render import Rendered
    from webhook.settings import AppConfig

    body = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {**meta, "annotations": {**HOOK, hooks.HOOK_DELETE_POLICY: "HookSucceeded"}},
    }
    app = AppConfig(name="shop", repo="o/r", path="apps/shop", namespace="shop")
    with pytest.raises(GuardError) as caught:
        check([Rendered(body=body, source="apps/shop/hook.yaml:1")], app, lambda a, k: True)
    assert any(expected in e for e in caught.value.errors), caught.value.errors
