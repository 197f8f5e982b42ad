"""Reading the sync order from the annotations Argo CD, Flux and Helm users already write."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

import pytest

from webhook import comments
from webhook.hooks import Phase, Policy, keeps_on_prune, problems, recreates, split
from webhook.model import Job, JobState, Trigger
from webhook.result import HookRun


def obj(name: str, kind: str = "Job", **annotations: str) -> dict[str, Any]:
    api = "batch/v1" if kind == "Job" else "v1"
    meta = {"name": name, "namespace": "shop", "annotations": annotations}
    return {"apiVersion": api, "kind": kind, "metadata": meta}


@pytest.mark.parametrize(
    ("helm_hook", "phases"),
    [
        ("pre-install", {Phase.PRE_SYNC}),
        ("pre-upgrade", {Phase.PRE_SYNC}),
        ("post-install,post-upgrade", {Phase.POST_SYNC}),
        ("pre-install, post-install", {Phase.PRE_SYNC, Phase.POST_SYNC}),
    ],
    ids=["pre-install", "pre-upgrade", "post-both", "pre-and-post"],
)
def test_helm_hooks_map_to_phases_as_argo_cd_maps_them(helm_hook: str, phases: set[Phase]) -> None:
    (hook,) = split([obj("h", **{"helm.sh/hook": helm_hook})]).hooks
    assert hook.phases == phases
    assert hook.policies == {Policy.BEFORE_HOOK_CREATION}


@pytest.mark.parametrize(
    "helm_hook", ["test", "test-success", "pre-delete", "post-delete", "pre-rollback"]
)
def test_helm_test_and_delete_hooks_are_never_applied(helm_hook: str) -> None:
    order = split([obj("t", "Pod", **{"helm.sh/hook": helm_hook})])
    assert (order.resources, order.hooks, order.skipped) == ([], [], ["Pod shop/t"])


def test_helm_weight_and_delete_policies_order_and_delete_hooks() -> None:
    heavy = obj("b", **{"helm.sh/hook": "pre-install", "helm.sh/hook-weight": "5"})
    light = obj(
        "a",
        **{
            "helm.sh/hook": "pre-install",
            "helm.sh/hook-weight": "-5",
            "helm.sh/hook-delete-policy": "hook-succeeded,hook-failed",
        },
    )
    order = split([heavy, light])
    assert [h.ref.name for h in order.hooks_in(Phase.PRE_SYNC)] == ["a", "b"]
    assert order.hooks_in(Phase.PRE_SYNC)[0].policies == {
        Policy.HOOK_SUCCEEDED,
        Policy.HOOK_FAILED,
    }


def test_argo_cd_hook_annotations_win_over_helm_ones() -> None:
    both = obj("x", **{"argocd.argoproj.io/hook": "PostSync", "helm.sh/hook": "pre-install"})
    (hook,) = split([both]).hooks
    assert hook.phases == {Phase.POST_SYNC}


def test_skip_hooks_and_crd_install_are_no_hooks_to_run() -> None:
    skip = obj("s", **{"argocd.argoproj.io/hook": "Skip"})
    crd = obj("c", "ConfigMap", **{"helm.sh/hook": "crd-install"})
    order = split([skip, crd])
    assert order.hooks == [] and order.skipped == ["Job shop/s"]
    assert order.resources == [crd]


def test_members_are_grouped_by_wave_in_ascending_order() -> None:
    late = obj("late", "ConfigMap", **{"argocd.argoproj.io/sync-wave": "2"})
    early = obj("early", "ConfigMap", **{"argocd.argoproj.io/sync-wave": "-1"})
    plain = obj("plain", "ConfigMap")
    order = split([late, early, plain])
    assert order.waves == [-1, 0, 2]
    assert order.in_wave(0) == [plain]


def test_sync_options_and_flux_annotations() -> None:
    both = obj("o", **{"argocd.argoproj.io/sync-options": "Prune=false, Replace=true"})
    assert keeps_on_prune(both) and recreates(both)
    flux = obj(
        "f",
        **{
            "kustomize.toolkit.fluxcd.io/prune": "disabled",
            "kustomize.toolkit.fluxcd.io/force": "enabled",
        },
    )
    assert keeps_on_prune(flux) and recreates(flux)
    assert not keeps_on_prune(obj("p")) and not recreates(obj("p"))


def test_bad_values_are_named() -> None:
    bad = obj(
        "b",
        **{
            "argocd.argoproj.io/hook": "PreSync",
            "argocd.argoproj.io/hook-delete-policy": "Always",
            "argocd.argoproj.io/sync-wave": "1.5",
        },
    )
    assert problems(bad) == [
        "argocd.argoproj.io/hook-delete-policy 'Always': use "
        "BeforeHookCreation, HookSucceeded, HookFailed",
        "argocd.argoproj.io/sync-wave '1.5' is not an integer",
    ]
    helm = obj("h", **{"helm.sh/hook": "pre-instal", "helm.sh/hook-weight": "x"})
    assert problems(helm) == [
        "helm.sh/hook 'pre-instal' is not a Helm hook",
        "helm.sh/hook-weight 'x' is not an integer",
    ]


def _job(state: JobState, result: dict[str, Any]) -> Job:
    return Job(
        id=7,
        app="shop",
        repo="acme/gitops",
        commit="a" * 40,
        ref="refs/heads/main",
        trigger=Trigger.PUSH,
        state=state,
        message="ok",
        result=result,
    )


def test_comments_show_hooks_run_and_a_preview_names_its_hooks() -> None:
    hook = HookRun("Job shop/migrate", "PreSync", "succeeded")
    ran = _job(JobState.SUCCEEDED, {"created": ["Deployment shop/web"], "hooks": [asdict(hook)]})
    assert "| 1 created, 1 hooks run |" in comments.deployment_comment(3, [ran], None)
    planned = asdict(replace(hook, status="planned", object="Job shop/<b>x</b>"))
    preview = comments.preview_comment(3, [_job(JobState.SUCCEEDED, {"hooks": [planned]})], None)
    assert "Hooks (run on merge, not in the diff): PreSync Job shop/&lt;b&gt;x&lt;/b&gt;" in preview
