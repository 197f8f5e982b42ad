"""Hooks and waves on the real control plane with kwok nodes, from the fixture repositories
in tests/fixtures/sync-order (Argo CD's pre-post-sync and sync-waves, a chart with Helm
hooks). Job Pods complete (or, labelled to, fail) through kwok stages. Order is read from
watches: events sorted by resourceVersion (tests/watches.py), never from timestamps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.dynamic import DynamicClient

from tests.gitops import GitOps, live, make_gitops
from tests.watches import Recorder
from webhook.hooks import HOOK_OF
from webhook.kube.applyset import GROUP_KINDS, PART_OF

pytestmark = pytest.mark.usefixtures("no_stray_kubeconfig")

FIXTURES = Path(__file__).parent / "fixtures" / "sync-order"
WATCHED = [("batch/v1", "Job"), ("apps/v1", "Deployment"), ("v1", "ConfigMap")]


def files(name: str, **changed: str) -> dict[str, str]:
    """The fixture app ``name`` as files under apps/shop; ``changed`` replaces some."""
    root = FIXTURES / name
    found = {
        str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()
    }
    return {f"apps/shop/{rel}": text for rel, text in {**found, **changed}.items()}


@pytest.fixture
def api(control_plane_with_nodes: Any) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(control_plane_with_nodes.kubeconfig))
    yield api
    api.close()


@pytest.fixture
def ops(tmp_path: Path, control_plane_with_nodes: Any, namespace_with_nodes: str) -> GitOps:
    return make_gitops(tmp_path, control_plane_with_nodes.kubeconfig, namespace_with_nodes)


def job(api: client.ApiClient, namespace: str, name: str) -> Any:
    return live(DynamicClient(api), "Job", name, namespace, "batch/v1")


def jobs(api: client.ApiClient, namespace: str) -> list[str]:
    items = client.BatchV1Api(api).list_namespaced_job(namespace).items
    return sorted(j.metadata.name for j in items)


def test_pre_and_post_sync_hooks_run_around_the_app_in_order(
    ops: GitOps, api: client.ApiClient
) -> None:
    sha = ops.commit(files("pre-post-sync"))
    with Recorder(api, ops.namespace, WATCHED) as seen:
        result = ops.sync(sha, health_timeout=60)
    assert result.ok, result.error
    ns = ops.namespace
    assert [(h.object, h.phase, h.status, h.deleted) for h in result.hooks] == [
        (f"Job {ns}/db-migrate", "PreSync", "succeeded", False),
        (f"Job {ns}/smoke-test", "PostSync", "succeeded", True),
    ]
    migrated = seen.first("Job", "db-migrate", condition="Complete")
    created = seen.first("Deployment", "guestbook-ui", type="ADDED")
    available = seen.first("Deployment", "guestbook-ui", condition="Available")
    smoke = seen.first("Job", "smoke-test", type="ADDED")
    assert migrated.rv < created.rv < available.rv < smoke.rv
    # HookSucceeded deleted the smoke test; BeforeHookCreation keeps the migration until the
    # next sync. Hooks are no members of the ApplySet: labelled as hooks, never as members.
    assert seen.first("Job", "smoke-test", type="DELETED").rv > smoke.rv
    assert jobs(api, ns) == ["db-migrate"]
    labels = job(api, ns, "db-migrate")["metadata"]["labels"]
    assert PART_OF not in labels and HOOK_OF in labels
    parent = live(DynamicClient(api), "ConfigMap", "applyset-shop", ns)
    assert "Job.batch" not in parent["metadata"]["annotations"][GROUP_KINDS]
    assert f"Job {ns}/db-migrate" not in result.created + result.configured + result.unchanged


def test_a_second_sync_with_a_changed_hook_replaces_it_before_creating_it(
    ops: GitOps, api: client.ApiClient
) -> None:
    first = ops.commit(files("pre-post-sync"))
    assert ops.sync(first, health_timeout=60).ok
    old_uid = job(api, ops.namespace, "db-migrate")["metadata"]["uid"]
    changed = (FIXTURES / "pre-post-sync" / "db-migrate-job.yaml").read_text()
    second = ops.commit(
        files(
            "pre-post-sync",
            **{
                "db-migrate-job.yaml": changed.replace(
                    '["migrate", "up"]', '["migrate", "up", "--to", "42"]'
                )
            },
        )
    )
    with Recorder(api, ops.namespace, WATCHED) as seen:
        result = ops.sync(second, health_timeout=60)
    # The Job's template is immutable: BeforeHookCreation deleted the old Job (and waited
    # until it was gone) before creating the new one, so no "field is immutable".
    assert result.ok, result.error
    gone = seen.first("Job", "db-migrate", type="DELETED")
    created = seen.first("Job", "db-migrate", type="ADDED")
    assert gone.uid == old_uid and created.uid != old_uid
    assert gone.rv < created.rv
    now = job(api, ops.namespace, "db-migrate")
    assert now["metadata"]["uid"] == created.uid
    assert now["spec"]["template"]["spec"]["containers"][0]["command"][-1] == "42"


def test_a_failing_presync_hook_stops_the_sync_and_the_syncfail_hook_runs(
    ops: GitOps, api: client.ApiClient
) -> None:
    migrate = yaml.safe_load((FIXTURES / "pre-post-sync" / "db-migrate-job.yaml").read_text())
    migrate["spec"]["template"]["metadata"]["labels"]["webhook-deployer.test/outcome"] = "fail"
    rollback = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "generateName": "page-oncall-",
            "annotations": {"argocd.argoproj.io/hook": "SyncFail"},
        },
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "page", "image": "registry.example/pager:1"}],
                }
            },
        },
    }
    app = files("pre-post-sync", **{"db-migrate-job.yaml": yaml.safe_dump(migrate)})
    app["apps/shop/page-oncall.yaml"] = yaml.safe_dump(rollback)
    del app["apps/shop/kustomization.yaml"]  # plain YAML: Kustomize refuses generateName
    sha = ops.commit(app)
    with Recorder(api, ops.namespace, WATCHED) as seen:
        result = ops.sync(sha, health_timeout=60)
    ns = ops.namespace
    assert result.error_kind == "hook"
    assert result.error is not None
    assert result.error.startswith(f"Job {ns}/db-migrate failed: BackoffLimitExceeded")
    assert "container migrate Error, exit code 1: migration 0042 failed" in result.error
    assert [(h.phase, h.status) for h in result.hooks] == [
        ("PreSync", "failed"),
        ("SyncFail", "succeeded"),
    ]
    assert result.hooks[1].object.startswith(f"Job {ns}/page-oncall-")
    # Nothing of the app was applied: no Deployment event at all, and no smoke test.
    assert [e for e in seen.ordered() if e.kind == "Deployment"] == []
    assert not [e for e in seen.ordered() if e.name == "smoke-test"]
    failed = seen.first("Job", "db-migrate", condition="Failed")
    assert failed.rv < seen.first("Job", "page-oncall-", type="ADDED").rv


def test_waves_go_one_after_the_other_each_healthy_before_the_next(
    ops: GitOps, api: client.ApiClient
) -> None:
    sha = ops.commit(files("sync-waves"))
    with Recorder(api, ops.namespace, WATCHED) as seen:
        result = ops.sync(sha, health_timeout=60)
    assert result.ok, result.error
    schema = seen.first("Job", "upgrade-sql-schema-", condition="Complete")
    maint = seen.first("ConfigMap", "maint-page", type="ADDED")
    backend = seen.first("Deployment", "backend", type="ADDED")
    backend_up = seen.first("Deployment", "backend", condition="Available")
    frontend = seen.first("Deployment", "frontend", type="ADDED")
    notify = seen.first("Job", "notify-", type="ADDED")
    assert schema.rv < maint.rv < backend.rv < backend_up.rv < frontend.rv < notify.rv
    # generateName hooks are created (the server names them) and HookSucceeded removed them.
    assert schema.name != "upgrade-sql-schema-" and schema.name.startswith("upgrade-sql-schema-")
    assert jobs(api, ops.namespace) == []
    assert [h.phase for h in result.hooks] == ["PreSync", "PostSync"]
    assert all(h.deleted for h in result.hooks)


def test_helm_hooks_run_by_phase_and_weight_and_test_hooks_are_never_applied(
    ops: GitOps, api: client.ApiClient
) -> None:
    sha = ops.commit(files("helm-hooks"))
    with Recorder(api, ops.namespace, [*WATCHED, ("v1", "Pod")]) as seen:
        result = ops.sync(sha, health_timeout=60)
    assert result.ok, result.error
    ns = ops.namespace
    assert [(h.object, h.phase) for h in result.hooks] == [
        (f"Job {ns}/shop-create-db", "PreSync"),
        (f"Job {ns}/shop-migrate", "PreSync"),
        (f"Job {ns}/shop-warm-cache", "PostSync"),
    ]
    created_db = seen.first("Job", "shop-create-db", condition="Complete")
    migrate = seen.first("Job", "shop-migrate", type="ADDED")
    migrated = seen.first("Job", "shop-migrate", condition="Complete")
    web = seen.first("Deployment", "shop-web", type="ADDED")
    warm = seen.first("Job", "shop-warm-cache", type="ADDED")
    assert created_db.rv < migrate.rv < migrated.rv < web.rv < warm.rv
    # hook-succeeded deletes; without a policy, before-hook-creation keeps it until next time.
    assert jobs(api, ns) == ["shop-migrate"]
    assert not [e for e in seen.ordered() if e.name == "shop-test-connection"]
    assert live(DynamicClient(api), "Pod", "shop-test-connection", ns) is None


def test_argo_cd_pre_post_sync_hooks_on_a_base_in_another_folder(
    ops: GitOps, api: client.ApiClient
) -> None:
    """argocd-example-apps' shape: ``pre-post-sync/`` adds its hooks to the guestbook kept
    in ``kustomize-guestbook/`` (``resources: [../kustomize-guestbook]``)."""
    root = FIXTURES / "pre-post-sync"
    base = {
        "apps/kustomize-guestbook/kustomization.yaml": (
            "resources:\n- guestbook-ui-deployment.yaml\n- guestbook-ui-svc.yaml\n"
        ),
        **{
            f"apps/kustomize-guestbook/{name}": (root / name).read_text()
            for name in ("guestbook-ui-deployment.yaml", "guestbook-ui-svc.yaml")
        },
    }
    overlay = {
        "apps/shop/kustomization.yaml": (
            "resources:\n- ../kustomize-guestbook\n- db-migrate-job.yaml\n- smoke-test-job.yaml\n"
        ),
        **{
            f"apps/shop/{name}": (root / name).read_text()
            for name in ("db-migrate-job.yaml", "smoke-test-job.yaml")
        },
    }
    sha = ops.commit({**base, **overlay})
    with Recorder(api, ops.namespace, WATCHED) as seen:
        result = ops.sync(sha, health_timeout=60)
    assert result.ok, result.error
    ns = ops.namespace
    assert [(h.object, h.phase, h.status) for h in result.hooks] == [
        (f"Job {ns}/db-migrate", "PreSync", "succeeded"),
        (f"Job {ns}/smoke-test", "PostSync", "succeeded"),
    ]
    assert f"Deployment {ns}/guestbook-ui" in result.created
    migrated = seen.first("Job", "db-migrate", condition="Complete")
    created = seen.first("Deployment", "guestbook-ui", type="ADDED")
    smoke = seen.first("Job", "smoke-test", type="ADDED")
    assert migrated.rv < created.rv < smoke.rv
    # The render read the base: a change there counts as a change of this app.
    assert result.inputs is not None
    assert any(path.startswith("apps/kustomize-guestbook") for path in result.inputs)


def test_presync_hooks_run_in_a_namespace_the_same_sync_creates(
    ops: GitOps, api: client.ApiClient
) -> None:
    """The app brings its own Namespace: it is created before the PreSync hook that runs in
    it (without that, the hook's create fails with 'namespaces ... not found')."""
    ns = f"{ops.namespace}-own"
    namespace = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"
    kustomization = (FIXTURES / "pre-post-sync" / "kustomization.yaml").read_text()
    changed = {
        "namespace.yaml": namespace,
        "kustomization.yaml": kustomization.replace(
            "resources:\n", "resources:\n- namespace.yaml\n"
        ),
    }
    sha = ops.commit(files("pre-post-sync", **changed))
    try:
        result = ops.sync(
            sha, namespace=ns, allowed_cluster_kinds=("Namespace",), health_timeout=60
        )
        assert result.ok, result.error
        assert f"Namespace {ns}" in result.created
        assert [(h.object, h.status) for h in result.hooks] == [
            (f"Job {ns}/db-migrate", "succeeded"),
            (f"Job {ns}/smoke-test", "succeeded"),
        ]
    finally:
        client.CoreV1Api(api).delete_namespace(ns)
