"""Per-app CEL health checks (Flux's healthCheckExprs) and the config keys of issue #9:
expressions compile at load, evaluate in Flux's order, fail with a clear message, and a
sync waits on them against the real API server."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes.dynamic import DynamicClient

from tests.gitops import GitOps, dump, widget_crd
from webhook.app_options import HealthCheck
from webhook.kube.health import Status, assess
from webhook.objects import ObjectRef
from webhook.settings import ConfigError, load_config

READY = "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')"
CHECK = HealthCheck(
    api_version="example.com/v1",
    kind="Database",
    current=READY,
    in_progress="has(status.phase) && status.phase == 'Provisioning'",
    failed="has(status.phase) && status.phase == 'Broken'",
)
REF = ObjectRef("example.com", "Database", "ns", "db")


def _db(status: dict[str, Any], generation: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Database",
        "metadata": {"name": "db", "generation": generation},
        "status": {"observedGeneration": generation, **status},
    }


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"phase": "Ready", "conditions": [{"type": "Ready", "status": "True"}]}, Status.CURRENT),
        ({"phase": "Provisioning", "conditions": []}, Status.IN_PROGRESS),
        ({"phase": "Broken", "conditions": []}, Status.FAILED),
        ({"conditions": [{"type": "Ready", "status": "False"}]}, Status.IN_PROGRESS),
    ],
    ids=["current", "in-progress", "failed", "none-true"],
)
def test_expressions_decide_the_state_of_their_kind(
    status: dict[str, Any], expected: Status
) -> None:
    assert assess(REF, _db(status), (CHECK,)).status is expected


def test_in_progress_is_asked_before_failed_and_current() -> None:
    both = _db({"phase": "Provisioning", "conditions": [{"type": "Ready", "status": "True"}]})
    assert assess(REF, both, (CHECK,)).status is Status.IN_PROGRESS


def test_a_generation_not_yet_observed_comes_before_the_expressions() -> None:
    ready = {"conditions": [{"type": "Ready", "status": "True"}]}
    stale = _db(ready)
    stale["metadata"]["generation"] = 2
    assert assess(REF, stale, (CHECK,)).status is Status.IN_PROGRESS


def test_an_expression_that_cannot_be_evaluated_says_which_and_why() -> None:
    verdict = assess(REF, _db({}), (CHECK,))  # no status.conditions yet
    assert verdict.status is Status.IN_PROGRESS
    assert "health check Current" in verdict.message and "conditions" in verdict.message


def test_other_kinds_keep_their_own_rules() -> None:
    other = ObjectRef("example.com", "Cache", "ns", "c")
    body = {"apiVersion": "example.com/v1", "kind": "Cache", "metadata": {"name": "c"}}
    assert assess(other, body, (CHECK,)).status is Status.CURRENT


def _config(tmp_path: Path, app_extra: str, top: str = "") -> Path:
    path = tmp_path / "deployer.yaml"
    path.write_text(
        f"{top}apps:\n  - name: shop\n    repo: acme/gitops\n    path: apps/shop\n"
        f"    namespace: shop\n{app_extra}"
    )
    return path


def test_the_new_keys_load_as_the_readme_shows_them(tmp_path: Path) -> None:
    extra = (
        "    helm:\n      chart: {repo: acr, name: shop, version: 2.3.1}\n"
        "      values_files: [values-prod.yaml]\n"
        "    ignore_differences:\n      - {group: apps, kind: Deployment, json_pointers: "
        "[/spec/replicas], managed_fields_managers: [kube-controller-manager]}\n"
        f"    health_checks:\n      - api_version: example.com/v1\n        kind: Database\n"
        f'        current: "{READY}"\n'
    )
    top = (
        "helm_repositories:\n  - {name: acr, url: 'oci://myregistry.azurecr.io/helm', "
        "username_env: ACR_USER, password_env: ACR_TOKEN}\n"
    )
    config = load_config(_config(tmp_path, extra, top))
    (app,) = config.apps
    assert app.helm.chart is not None and app.helm.chart.repo == "acr"
    assert config.helm_repositories[0].is_oci
    assert app.ignore_differences[0].json_pointers == ("/spec/replicas",)
    assert app.health_checks[0].current == READY


def test_an_expression_that_does_not_compile_fails_the_config(tmp_path: Path) -> None:
    extra = (
        "    health_checks:\n      - api_version: example.com/v1\n        kind: Database\n"
        '        current: "status.("\n'
    )
    with pytest.raises(ConfigError, match=r"app 'shop', key health_checks.*does not compile"):
        load_config(_config(tmp_path, extra))


@pytest.mark.parametrize(
    ("app_extra", "top", "message"),
    [
        ("    helm:\n      chart: {repo: acr, name: shop, version: 1.0.0}\n", "",
         "'acr' is not in helm_repositories"),
        ("    helm:\n      chart: {repo: acr, name: shop, version: '^1.0'}\n",
         "helm_repositories:\n  - {name: acr, url: 'oci://r.example/charts'}\n",
         "exact chart version"),
        ("", "helm_repositories:\n  - {name: x, url: 'https://u:p@charts.example'}\n",
         "must not hold credentials"),
        ("", "helm_repositories:\n  - {name: x, url: 'https://c.example', password_env: 'a b'}\n",
         "NAME of an environment variable"),
        ("    ignore_differences:\n      - {kind: Deployment, json_pointers: [spec/replicas]}\n",
         "", "must start with '/'"),
        ("    ignore_differences:\n      - {kind: Deployment}\n", "",
         "needs json_pointers or managed_fields_managers"),
    ],
    ids=["unlisted-repo", "version-range", "url-credentials", "secret-not-name", "pointer",
         "empty-rule"],
)  # fmt: skip
def test_helm_and_ignore_config_mistakes_are_named(
    tmp_path: Path, app_extra: str, top: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(_config(tmp_path, app_extra, top))


def test_a_sync_fails_when_an_expression_says_failed(gitops: GitOps, dyn: DynamicClient) -> None:
    group = f"t{uuid.uuid4().hex[:8]}.example.com"
    crd = widget_crd(group, {"x-kubernetes-preserve-unknown-fields": True})
    widget = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w"}}
    check = HealthCheck(
        api_version=f"{group}/v1",
        kind="Widget",
        current="spec.size > 0",
        failed="spec.size == 0",
    )
    try:
        good = gitops.commit({"apps/shop/all.yaml": dump(crd, {**widget, "spec": {"size": 2}})})
        result = gitops.sync(
            good, allowed_cluster_kinds=("CustomResourceDefinition",), health_checks=(check,)
        )
        assert result.ok, result.errors
        bad = gitops.commit({"apps/shop/all.yaml": dump(crd, {**widget, "spec": {"size": 0}})})
        failed = gitops.sync(bad)
        assert not failed.ok and failed.error_kind == "health"
        assert failed.error == "unhealthy: Widget w: health check: failed (spec.size == 0)"
    finally:
        dyn.resources.get(
            api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition"
        ).delete(name=f"widgets.{group}")
