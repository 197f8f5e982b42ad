"""The plan and apply decisions that need no cluster: the kind order, what a plan counts as a
change, when a sync has work (so hooks run), the ledger that lets a resync skip dry runs,
and ``execute`` leaving unchanged objects alone.

These are pure functions over manifests, tested here so that mutation testing
(``scripts/mutation apply``) has a fast selection; the same decisions against the real API
server are in ``test_sync_apply.py``, ``test_apply_ledger.py`` and
``test_apply_concurrency.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from webhook import phases
from webhook.hooks import HOOK, split
from webhook.kube import apply, live
from webhook.kube.applyset import Ownership
from webhook.kube.client import Cluster
from webhook.objects import Action, Manifest, ObjectRef, ref_of


def body(kind: str, name: str, *, api: str = "v1", namespace: str | None = "shop") -> Manifest:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    return {"apiVersion": api, "kind": kind, "metadata": meta}


def hook(name: str, image: str = "migrate:1") -> Manifest:
    job = body("Job", name, api="batch/v1")
    job["metadata"]["annotations"] = {HOOK: "PreSync"}
    job["spec"] = {"template": {"spec": {"containers": [{"name": "m", "image": image}]}}}
    return job


@pytest.mark.parametrize(
    ("api", "kind", "tier"),
    [
        ("v1", "Namespace", "namespaces"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "crds"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole", "cluster-rbac"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "cluster-rbac"),
        ("v1", "ServiceAccount", "service-accounts"),
        ("rbac.authorization.k8s.io/v1", "Role", "rbac"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding", "rbac"),
        ("v1", "Secret", "config"),
        ("v1", "ConfigMap", "config"),
        ("storage.k8s.io/v1", "StorageClass", "storage"),
        ("v1", "PersistentVolume", "storage"),
        ("v1", "PersistentVolumeClaim", "storage"),
        ("v1", "Service", "services"),
        ("v1", "Pod", "workloads"),
        ("v1", "ReplicationController", "workloads"),
        ("apps/v1", "ReplicaSet", "workloads"),
        ("apps/v1", "Deployment", "workloads"),
        ("apps/v1", "StatefulSet", "workloads"),
        ("apps/v1", "DaemonSet", "workloads"),
        ("batch/v1", "Job", "workloads"),
        ("batch/v1", "CronJob", "workloads"),
        # Built in but unlisted: after the workloads, before any custom resource.
        ("autoscaling/v2", "HorizontalPodAutoscaler", "other"),
        ("policy/v1", "PodDisruptionBudget", "other"),
        ("extensions/v1beta1", "Ingress", "other"),
        ("networking.k8s.io/v1", "NetworkPolicy", "other"),
        ("v1", "LimitRange", "other"),
        ("apps/v1", "ControllerRevision", "other"),
        ("batch/v1", "Unlisted", "other"),
        # Groups that are not built in: custom resources, last.
        ("example.com/v1", "Widget", "custom"),
        ("monitoring.coreos.com/v1", "ServiceMonitor", "custom"),
        ("k8s.io.example.com/v1", "Lookalike", "custom"),
        ("rbac.authorization.k8s.io.evil/v1", "Role", "custom"),
    ],
    ids=lambda v: str(v),
)
def test_each_kind_goes_in_its_tier(api: str, kind: str, tier: str) -> None:
    index = apply.tier_of(ref_of(body(kind, "x", api=api)))
    assert apply.KIND_ORDER[index][0] == tier


def test_the_tiers_go_from_namespaces_to_custom_resources() -> None:
    names = [name for name, _ in apply.KIND_ORDER]
    assert names == [
        "namespaces",
        "crds",
        "cluster-rbac",
        "service-accounts",
        "rbac",
        "config",
        "storage",
        "services",
        "workloads",
        "other",
        "custom",
    ]
    assert (apply.OTHER_TIER, apply.CUSTOM_TIER) == (9, 10)


def test_a_plan_lists_its_errors_and_its_changes_apart_from_unchanged_objects() -> None:
    made = [
        apply.Planned(ref_of(body("ConfigMap", n)), body("ConfigMap", n), action=a, error=e)
        for n, a, e in [
            ("new", Action.CREATED, None),
            ("edited", Action.CONFIGURED, None),
            ("same", Action.UNCHANGED, None),
            ("bad", Action.CREATED, "ConfigMap shop/bad is not ours"),
        ]
    ]
    the_plan = apply.Plan(made)
    assert the_plan.errors == ["ConfigMap shop/bad is not ours"]
    assert [p.ref.name for p in the_plan.changes()] == ["new", "edited", "bad"]


class Untouchable:
    """Stands in for the cluster where nothing may be sent: any use of it fails the test.
    (A plan of unchanged objects must reach no API server; the real server's audit log shows
    the same in ``test_sync_apply.py``.)"""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the cluster was used: {name}")


def test_executing_a_plan_of_unchanged_objects_writes_nothing_and_reports_them() -> None:
    objects = [body("Namespace", "shop", namespace=None), body("ConfigMap", "a")]
    lives = [{**o, "metadata": {**o["metadata"], "resourceVersion": "7"}} for o in objects]
    the_plan = apply.Plan(
        [
            apply.Planned(ref_of(o), o, live=seen, result=seen, action=Action.UNCHANGED)
            for o, seen in zip(objects, lives, strict=True)
        ]
    )
    before: list[str] = []
    after: list[str] = []
    results = apply.execute(
        cast(Cluster, Untouchable()),
        the_plan,
        force=False,
        ownership=Ownership("applyset-x", {}),
        before_tier=before.append,
        after_tier=after.append,
    )
    assert [(a.ref.name, a.action, a.result) for a in results] == [
        ("shop", Action.UNCHANGED, lives[0]),
        ("a", Action.UNCHANGED, lives[1]),
    ]
    every_tier = [name for name, _ in apply.KIND_ORDER]
    # Every tier is fenced and followed, even one with nothing to write (the engine writes
    # the ApplySet parent after the namespaces tier).
    assert before == every_tier and after == every_tier


def test_a_sync_has_work_when_an_object_changes_a_prune_is_due_or_the_hooks_changed() -> None:
    unchanged = apply.Plan(
        [
            apply.Planned(
                ref_of(body("ConfigMap", "a")), body("ConfigMap", "a"), action=Action.UNCHANGED
            )
        ]
    )
    changed = apply.Plan(
        [
            *unchanged.items,
            apply.Planned(ref_of(body("ConfigMap", "b")), body("ConfigMap", "b")),
        ]
    )
    no_hooks = split([body("ConfigMap", "a")])
    with_hooks = split([body("ConfigMap", "a"), hook("migrate")])
    parent_after = {
        "metadata": {"annotations": {phases.HOOKS_DIGEST: phases.hooks_digest(with_hooks)}}
    }
    assert not phases.has_work(None, no_hooks, unchanged, prunes=False)
    assert phases.has_work(None, no_hooks, unchanged, prunes=True)
    assert phases.has_work(None, no_hooks, changed, prunes=False)
    # Hooks never run before (no digest on the parent), then run: work; the same hooks: none.
    assert phases.has_work(None, with_hooks, unchanged, prunes=False)
    assert phases.has_work({"metadata": {}}, with_hooks, unchanged, prunes=False)
    assert not phases.has_work(parent_after, with_hooks, unchanged, prunes=False)
    changed_hooks = split([body("ConfigMap", "a"), hook("migrate", image="migrate:2")])
    assert phases.has_work(parent_after, changed_hooks, unchanged, prunes=False)


def test_the_hooks_digest_is_empty_without_hooks_and_ignores_their_order() -> None:
    assert phases.hooks_digest(split([body("ConfigMap", "a")])) == ""
    one = phases.hooks_digest(split([hook("a"), hook("b")]))
    assert one == phases.hooks_digest(split([hook("b"), hook("a")]))
    assert len(one) == 64 and one != phases.hooks_digest(split([hook("a")]))
    # The same hook rendered with its keys in another order is the same hook.
    reordered = dict(reversed(list(hook("a").items())))
    reordered["metadata"] = dict(reversed(list(reordered["metadata"].items())))
    assert phases.hooks_digest(split([reordered, hook("b")])) == one
    assert phases.recorded_digest(None) == ""
    assert phases.recorded_digest({"metadata": {"annotations": None}}) == ""
    assert phases.recorded_digest({"metadata": {"annotations": {phases.HOOKS_DIGEST: one}}}) == one


def test_the_record_lists_each_action_s_objects() -> None:
    items = [
        apply.Applied(ref_of(body("ConfigMap", "a")), Action.CREATED),
        apply.Applied(ref_of(body("ConfigMap", "b")), Action.UNCHANGED),
        apply.Applied(ref_of(body("ConfigMap", "c")), Action.CREATED),
    ]
    assert phases.by_action(iter(items), phases.PLANNED) == {
        "created": ("ConfigMap shop/a", "ConfigMap shop/c"),
        "configured": (),
        "unchanged": ("ConfigMap shop/b",),
    }


def test_a_parent_carries_its_labels_and_annotations_only_when_all_are_there() -> None:
    want = {"metadata": {"labels": {"l": "1"}, "annotations": {"a": "x"}}}
    assert not phases._carries(None, want)
    assert phases._carries(
        {"metadata": {"labels": {"l": "1", "m": "2"}, "annotations": {"a": "x"}}}, want
    )
    assert not phases._carries({"metadata": {"labels": {"l": "1"}}}, want)
    assert not phases._carries(
        {"metadata": {"labels": {"l": "2"}, "annotations": {"a": "x"}}}, want
    )
    assert phases._carries({"metadata": {}}, {"metadata": {}})


# -- the ledger: what lets a resync skip its dry runs (``kube/live.py``) ------------------


def test_a_digest_depends_on_the_body_and_force_not_on_key_order() -> None:
    a = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"x": "1", "y": "ü"}}
    reordered = {"data": {"y": "ü", "x": "1"}, "kind": "ConfigMap", "apiVersion": "v1"}
    assert live.digest(a, force=False) == live.digest(reordered, force=False)
    assert live.digest(a, force=False) != live.digest(a, force=True)
    assert live.digest(a, force=False) != live.digest({**a, "data": {"x": "2"}}, force=False)
    # The exact form: force, a newline, compact sorted JSON (a ledger written by an older
    # process stays valid).
    text = '{"apiVersion":"v1","data":{"x":"1","y":"ü"},"kind":"ConfigMap"}'
    import hashlib

    assert live.digest(a, force=True) == hashlib.sha256(f"1\n{text}".encode()).hexdigest()


def test_the_resource_version_of_an_object() -> None:
    assert live.version_of({"metadata": {"resourceVersion": 42}}) == "42"
    assert live.version_of({"metadata": {"resourceVersion": ""}}) is None
    assert live.version_of({"metadata": None}) is None
    assert live.version_of(None) is None


def test_the_ledger_keeps_entries_per_app_and_cluster_across_instances(tmp_path: Path) -> None:
    folder = tmp_path / "cache" / "applied"  # made on the first save, parents too
    entries = {"ConfigMap shop/a": ("d1", "7"), "ConfigMap shop/b": ("d2", "9")}
    live.Ledger(folder, "cluster|app").save({"ConfigMap shop/a": ("old", "1")})
    live.Ledger(folder, "cluster|app").save(entries)  # replaced whole, into the same folder
    assert live.Ledger(folder, "cluster|app").load() == entries
    assert live.Ledger(folder, "cluster|other").load() == {}
    path = live.Ledger(folder, "cluster|app").path
    assert path.parent == folder and len(path.stem) == 24 and path.suffix == ".json"
    assert [p.name for p in folder.iterdir()] == [path.name]  # no temporary file left


@pytest.mark.parametrize(
    "text",
    ["not json", "[1, 2]", '{"a": ["d"], "b": "x", "c": ["d", "1", "2"]}'],
    ids=["garbage", "a-list", "bad-entries"],
)
def test_a_corrupt_ledger_reads_as_empty_or_keeps_only_whole_entries(
    tmp_path: Path, text: str
) -> None:
    ledger = live.Ledger(tmp_path, "k")
    ledger.path.write_text(text)
    assert ledger.load() == {}
    ledger.path.write_text('{"a": ["d", 7], "b": ["x"]}')
    assert ledger.load() == {"a": ("d", "7")}


def test_a_ledger_that_cannot_be_written_costs_nothing_but_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    ledger = live.Ledger(blocker / "applied", "k")  # a folder under a file: cannot exist
    ledger.save({"a": ("d", "1")})
    assert ledger.load() == {}
    assert "could not write the apply ledger" in caplog.text


def test_a_snapshot_knows_what_it_proved_live_or_absent() -> None:
    here, gone, other = (ObjectRef("", "ConfigMap", "shop", n) for n in ("here", "gone", "x"))
    snap = live.Snapshot(live={here: {}}, absent={gone})
    assert snap.knows(here) and snap.knows(gone) and not snap.knows(other)


def test_bulk_reads_group_objects_by_version_kind_and_namespace() -> None:
    objects = [
        body("ConfigMap", "a"),
        body("ConfigMap", "b"),
        body("ConfigMap", "c", namespace="other"),
        body("Namespace", "shop", namespace=None),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": None},
    ]
    groups = live._groups(objects)
    assert {k: [b["metadata"] and b["metadata"]["name"] for b in v] for k, v in groups.items()} == {
        ("v1", "ConfigMap", "shop"): ["a", "b"],
        ("v1", "ConfigMap", "other"): ["c"],
        ("v1", "Namespace", None): ["shop"],
        ("v1", "ConfigMap", None): [None],
    }
