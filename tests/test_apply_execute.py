"""``apply.execute`` against the real API server: what it writes, in which order, and what it
stops on. Plans are made by the real ``plan`` (server-side dry run) or, for what a dry run
would catch first, built by hand; every write is read back from the API server's audit log.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.audit import AuditLog
from tests.gitops import cm, service, widget_crd
from webhook.kube import apply as apply_module
from webhook.kube.apply import KIND_ORDER, Plan, Planned, execute, plan, wait_established
from webhook.kube.applyset import PART_OF, Ownership
from webhook.kube.client import FIELD_MANAGER, Cluster
from webhook.objects import Action, ref_of

SET = "applyset-execute-test"
OWN = Ownership(id=SET)
TIERS = [name for name, _ in KIND_ORDER]


@pytest.fixture
def cluster(kubeconfig: Path, tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(context=None, cache_dir=tmp_path, kubeconfig=kubeconfig)
    yield c
    c.close()


def ours(body: dict[str, Any], namespace: str | None) -> dict[str, Any]:
    meta = body["metadata"]
    meta.setdefault("labels", {})[PART_OF] = SET
    if namespace is not None:
        meta["namespace"] = namespace
    return body


def account(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}


def writes(audit: AuditLog, mark: int) -> list[tuple[str, str | None]]:
    return [(r.resource, r.name) for r in audit.since(mark) if r.write]


class Calls:
    """Records the tier callbacks; ``stop_at`` raises before that tier's writes."""

    def __init__(self, stop_at: str | None = None) -> None:
        self.before: list[str] = []
        self.after: list[str] = []
        self.stop_at = stop_at

    def before_tier(self, name: str) -> None:
        self.before.append(name)
        if name == self.stop_at:
            raise RuntimeError(f"fenced at {name}")

    def after_tier(self, name: str) -> None:
        self.after.append(name)


def run(cluster: Cluster, the_plan: Plan, calls: Calls, force: bool = False) -> list[Any]:
    return execute(
        cluster,
        the_plan,
        force=force,
        ownership=OWN,
        before_tier=calls.before_tier,
        after_tier=calls.after_tier,
    )


def test_writes_only_the_changes_tier_by_tier_and_calls_back_around_every_tier(
    cluster: Cluster, namespace: str, api_audit: AuditLog
) -> None:
    desired = [
        ours(service("web"), namespace),
        ours(cm("a"), namespace),
        ours(cm("b"), namespace),
        ours(account("robot"), namespace),
    ]
    first = plan(cluster, desired, force=False, ownership=OWN)
    assert first.errors == []
    calls = Calls()
    mark = api_audit.mark()
    done = run(cluster, first, calls)
    assert [(a.ref.kind, a.ref.name, a.action) for a in done] == [
        ("ServiceAccount", "robot", Action.CREATED),
        ("ConfigMap", "a", Action.CREATED),
        ("ConfigMap", "b", Action.CREATED),
        ("Service", "web", Action.CREATED),
    ]
    assert all(a.error is None and a.result is not None for a in done)
    assert done[1].result is not None and done[1].result["data"] == {"value": "1"}
    sent = writes(api_audit, mark)
    assert sent[0] == ("serviceaccounts", "robot")
    assert sorted(sent[1:3]) == [("configmaps", "a"), ("configmaps", "b")]
    assert sent[3:] == [("services", "web")]
    assert calls.before == TIERS
    assert calls.after == TIERS

    desired[2] = ours(cm("b", "2"), namespace)
    second = plan(cluster, desired, force=False, ownership=OWN)
    mark = api_audit.mark()
    again = run(cluster, second, Calls())
    actions = {a.ref.name: a.action for a in again}
    assert actions == {
        "robot": Action.UNCHANGED,
        "a": Action.UNCHANGED,
        "b": Action.CONFIGURED,
        "web": Action.UNCHANGED,
    }
    unchanged_a = next(a for a in again if a.ref.name == "a")
    assert unchanged_a.result is not None and unchanged_a.result["metadata"]["name"] == "a"
    assert writes(api_audit, mark) == [("configmaps", "b")]


def test_a_failed_tier_skips_every_later_tier_unwritten_and_ends_the_callbacks(
    cluster: Cluster, namespace: str, api_audit: AuditLog
) -> None:
    bad = ours(cm("bad"), namespace)
    bad["data"] = {"value": {"not": "a string"}}
    items = [
        Planned(ref_of(b), b)
        for b in (
            ours(account("robot"), namespace),
            bad,
            ours(cm("fine"), namespace),
            ours(service("web"), namespace),
            ours(service("later"), namespace),
        )
    ]
    calls = Calls()
    mark = api_audit.mark()
    done = run(cluster, Plan(items), calls)
    by_name = {a.ref.name: a for a in done}
    assert by_name["robot"].action is Action.CREATED
    assert by_name["bad"].action is Action.FAILED
    assert by_name["bad"].error and "bad" in by_name["bad"].error
    assert by_name["fine"].action is Action.CREATED  # the tier itself runs to its end
    for name in ("web", "later"):
        assert by_name[name].action is Action.SKIPPED
        assert by_name[name].error == "an earlier object failed"
    assert calls.before == TIERS[: TIERS.index("config") + 1]
    assert calls.after == TIERS[: TIERS.index("config")]
    sent = {name for resource, name in writes(api_audit, mark) if resource == "services"}
    assert sent == set()


def test_a_fence_raising_before_a_tier_stops_its_writes_and_every_later_one(
    cluster: Cluster, namespace: str, api_audit: AuditLog
) -> None:
    desired = [ours(cm("a"), namespace), ours(service("web"), namespace)]
    the_plan = plan(cluster, desired, force=False, ownership=OWN)
    calls = Calls(stop_at="services")
    mark = api_audit.mark()
    with pytest.raises(RuntimeError, match="fenced at services"):
        run(cluster, the_plan, calls)
    assert writes(api_audit, mark) == [("configmaps", "a")]
    assert calls.after == [*TIERS[: TIERS.index("config") + 1], "storage"]


def test_a_new_crd_is_waited_for_and_its_resource_applied_in_the_same_run(
    cluster: Cluster, namespace: str, api_audit: AuditLog
) -> None:
    group = f"x{uuid.uuid4().hex[:8]}.example.com"
    crd = ours(
        widget_crd(group, {"type": "object", "x-kubernetes-preserve-unknown-fields": True}), None
    )
    widget = ours(
        {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {}},
        namespace,
    )
    the_plan = plan(cluster, [crd, widget], force=False, ownership=OWN)
    assert the_plan.errors == []
    assert [p.deferred is not None for p in the_plan.items] == [False, True]
    calls = Calls()
    mark = api_audit.mark()
    try:
        done = run(cluster, the_plan, calls)
        assert [(a.ref.kind, a.action, a.error) for a in done] == [
            ("CustomResourceDefinition", Action.CREATED, None),
            ("Widget", Action.CREATED, None),
        ]
        assert calls.after == TIERS
        assert [r for r, _ in writes(api_audit, mark)] == ["customresourcedefinitions", "widgets"]
    finally:
        resource = cluster.resource("apiextensions.k8s.io/v1", "CustomResourceDefinition")
        cluster.delete(resource, crd["metadata"]["name"], None)


def test_a_deferred_object_someone_else_owns_is_refused_unwritten(
    cluster: Cluster, namespace: str, api_audit: AuditLog
) -> None:
    theirs = cm("taken", "theirs")
    theirs["metadata"]["namespace"] = namespace
    resource = cluster.resource("v1", "ConfigMap")
    cluster.apply(resource, theirs, dry_run=False, force=False)
    body = ours(cm("taken", "ours"), namespace)
    item = Planned(ref_of(body), body, deferred="its namespace is new")
    mark = api_audit.mark()
    done = run(cluster, Plan([item]), Calls())
    assert done[0].ref == ref_of(body) and done[0].action is Action.FAILED
    assert done[0].error is not None and done[0].error.startswith(f"{ref_of(body)} ")
    assert "adopt" in done[0].error
    assert writes(api_audit, mark) == []
    assert (cluster.get(resource, "taken", namespace) or {})["data"] == {"value": "theirs"}


def test_a_deferred_object_of_its_own_is_configured_and_a_new_one_created(
    cluster: Cluster, namespace: str
) -> None:
    mine = ours(cm("mine"), namespace)
    resource = cluster.resource("v1", "ConfigMap")
    cluster.apply(resource, mine, dry_run=False, force=False)
    changed = ours(cm("mine", "2"), namespace)
    fresh = ours(cm("fresh"), namespace)
    items = [
        Planned(ref_of(changed), changed, action=Action.CONFIGURED, deferred="later"),
        Planned(ref_of(fresh), fresh, action=Action.CONFIGURED, deferred="later"),
    ]
    done = run(cluster, Plan(items), Calls())
    assert [(a.ref.name, a.action) for a in done] == [
        ("mine", Action.CONFIGURED),
        ("fresh", Action.CREATED),
    ]


def test_recreate_deletes_the_live_object_and_creates_it_again(
    cluster: Cluster, namespace: str, api_audit: AuditLog
) -> None:
    body = ours(cm("again"), namespace)
    resource = cluster.resource("v1", "ConfigMap")
    live = cluster.apply(resource, body, dry_run=False, force=False)
    item = Planned(ref_of(body), body, live=live, action=Action.CONFIGURED, recreate=True)
    mark = api_audit.mark()
    done = run(cluster, Plan([item]), Calls())
    assert done[0].action is Action.CONFIGURED
    now = cluster.get(resource, "again", namespace)
    assert now is not None and now["metadata"]["uid"] != live["metadata"]["uid"]
    assert [r.verb for r in api_audit.since(mark) if r.write] == ["delete", "patch"]


def test_force_takes_a_field_another_manager_owns_and_without_it_the_conflict_fails(
    cluster: Cluster, namespace: str
) -> None:
    resource = cluster.resource("v1", "ConfigMap")
    other = cm("shared", "theirs")
    other["metadata"]["namespace"] = namespace
    resource.server_side_apply(body=other, namespace=namespace, field_manager="someone-else")
    body = ours(cm("shared", "ours"), namespace)
    live = cluster.get(resource, "shared", namespace)
    item = Planned(ref_of(body), body, live=live, action=Action.CONFIGURED)
    refused = run(cluster, Plan([item]), Calls(), force=False)
    assert refused[0].action is Action.FAILED
    assert refused[0].error and "conflict" in refused[0].error.lower()
    forced = run(cluster, Plan([item]), Calls(), force=True)
    assert forced[0].action is Action.CONFIGURED
    assert (cluster.get(resource, "shared", namespace) or {})["data"] == {"value": "ours"}


def test_a_crd_whose_other_conditions_are_true_but_not_established_is_reported_late(
    cluster: Cluster,
) -> None:
    """A second CRD of the same kind in a group is never Established (KindConflict), while
    the API-approval condition of a ``*.k8s.io`` group is True: only ``Established`` counts."""
    group = f"x{uuid.uuid4().hex[:8]}.k8s.io"
    approved = {
        "api-approved.kubernetes.io": "https://github.com/kubernetes/enhancements/pull/1111"
    }
    first = widget_crd(group, {"x-kubernetes-preserve-unknown-fields": True})
    second = widget_crd(group, {"x-kubernetes-preserve-unknown-fields": True})
    second["metadata"]["name"] = f"gadgets.{group}"
    second["spec"]["names"] = {"plural": "gadgets", "singular": "gadget", "kind": "Widget"}
    resource = cluster.resource("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    names = []
    try:
        for crd in (first, second):  # the first Established before the second exists: the
            # naming controller gives the kind to whichever of the two it reads first
            crd["metadata"]["annotations"] = approved
            cluster.apply(resource, crd, dry_run=False, force=False)
            names.append(crd["metadata"]["name"])
            assert wait_established(cluster, names[:1], 30) == []
        conditions: list[dict[str, Any]] = []
        for _ in range(300):  # the naming and approval controllers each write their own
            live = cluster.get(resource, names[1], None) or {}
            conditions = (live.get("status") or {}).get("conditions") or []
            types = {c.get("type") for c in conditions}
            if {"NamesAccepted", "KubernetesAPIApprovalPolicyConformant"} <= types:
                break
            time.sleep(0.1)
        assert any(c.get("status") == "True" for c in conditions), conditions
        assert wait_established(cluster, names, 2) == [names[1]]
    finally:
        for name in names:
            cluster.delete(resource, name, None)


def test_a_kind_served_by_two_groups_is_applied_as_its_own_api_version(
    cluster: Cluster, namespace: str
) -> None:
    """``Event`` is served by ``v1`` and ``events.k8s.io/v1``: the body's apiVersion decides."""
    event = ours(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "noted"},
            "involvedObject": {"kind": "ConfigMap", "name": "a", "namespace": namespace},
            "reason": "Tested",
            "message": "an event",
        },
        namespace,
    )
    done = run(cluster, Plan([Planned(ref_of(event), event)]), Calls())
    assert [(a.action, a.error) for a in done] == [(Action.CREATED, None)]


def test_recreate_waits_until_the_old_object_is_gone_before_creating_it_again(
    cluster: Cluster, namespace: str
) -> None:
    """The old object has a finalizer, removed by another client shortly after the delete:
    applying before it is gone would write into the dying object, and lose it."""
    resource = cluster.resource("v1", "ConfigMap")
    body = ours(cm("held"), namespace)
    held = ours(cm("held"), namespace)
    held["metadata"]["finalizers"] = ["example.com/hold"]
    live = resource.server_side_apply(body=held, namespace=namespace, field_manager="holder")
    old_uid = live.metadata.uid

    def release() -> None:
        for _ in range(600):
            now = cluster.get(resource, "held", namespace) or {}
            if (now.get("metadata") or {}).get("deletionTimestamp"):
                time.sleep(0.5)  # the deployer would write into the dying object meanwhile
                resource.patch(
                    body={"metadata": {"finalizers": None}},
                    name="held",
                    namespace=namespace,
                    content_type="application/merge-patch+json",
                )
                return
            time.sleep(0.05)

    releaser = threading.Thread(target=release)
    releaser.start()
    item = Planned(
        ref_of(body),
        body,
        live=cluster.get(resource, "held", namespace),
        action=Action.CONFIGURED,
        recreate=True,
    )
    done = run(cluster, Plan([item]), Calls())
    releaser.join(60)
    assert [(a.action, a.error) for a in done] == [(Action.CONFIGURED, None)]
    now = cluster.get(resource, "held", namespace)
    assert now is not None and now["metadata"]["uid"] != old_uid
    assert "deletionTimestamp" not in now["metadata"]


def test_a_new_crd_not_established_in_time_fails_and_skips_every_later_tier(
    cluster: Cluster, namespace: str, api_audit: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CRD of a kind its group already has is never Established (KindConflict)."""
    monkeypatch.setattr(apply_module, "CRD_ESTABLISHED_TIMEOUT", 1.0)
    group = f"x{uuid.uuid4().hex[:8]}.example.com"
    first = widget_crd(group, {"x-kubernetes-preserve-unknown-fields": True})
    second = ours(widget_crd(group, {"x-kubernetes-preserve-unknown-fields": True}), None)
    second["metadata"]["name"] = f"gadgets.{group}"
    second["spec"]["names"] = {"plural": "gadgets", "singular": "gadget", "kind": "Widget"}
    resource = cluster.resource("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    cluster.apply(resource, first, dry_run=False, force=False)
    assert wait_established(cluster, [first["metadata"]["name"]], 30) == []  # its names first
    later = ours(cm("later"), namespace)
    calls = Calls()
    try:
        mark = api_audit.mark()
        done = run(
            cluster, Plan([Planned(ref_of(second), second), Planned(ref_of(later), later)]), calls
        )
        ref = ref_of(second)
        assert [(a.ref, a.action, a.error) for a in done] == [
            (ref, Action.FAILED, f"{ref}: not Established after 1s"),
            (ref_of(later), Action.SKIPPED, "an earlier object failed"),
        ]
        assert calls.after == TIERS[:1]
        assert writes(api_audit, mark) == [("customresourcedefinitions", f"gadgets.{group}")]
    finally:
        for name in (f"widgets.{group}", f"gadgets.{group}"):
            cluster.delete(resource, name, None)


def new_namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


@pytest.fixture
def fresh(cluster: Cluster) -> Iterator[str]:
    """The name of a Namespace that does not exist yet; deleted after the test."""
    name = f"fresh-{uuid.uuid4().hex[:8]}"
    yield name
    cluster.delete(cluster.resource("v1", "Namespace"), name, None)


class Planting(Calls):
    """Before ``tier``, ``body`` is written with the deployer's own field manager (another
    app of the deployer: no conflict would stop the apply), between the plan and the apply."""

    def __init__(self, cluster: Cluster, tier: str, body: dict[str, Any]) -> None:
        super().__init__()
        self.cluster, self.tier, self.body = cluster, tier, body

    def before_tier(self, name: str) -> None:
        super().before_tier(name)
        if name == self.tier:
            resource = self.cluster.resource(self.body["apiVersion"], self.body["kind"])
            self.cluster.dynamic.server_side_apply(  # type: ignore[no-untyped-call]
                resource, body=self.body, field_manager=FIELD_MANAGER
            )


def test_objects_in_a_namespace_this_run_creates_are_not_read_before_their_apply(
    cluster: Cluster, fresh: str, api_audit: AuditLog
) -> None:
    desired = [new_namespace(fresh), ours(cm("a"), fresh), ours(service("web"), fresh)]
    the_plan = plan(cluster, desired, force=False, ownership=OWN)
    assert [p.deferred for p in the_plan.items][1:] == [f"namespace {fresh} is new"] * 2
    mark = api_audit.mark()
    done = run(cluster, the_plan, Calls())
    assert [(a.ref.name, a.action, a.created) for a in done] == [
        (fresh, Action.CREATED, True),
        ("a", Action.CREATED, True),
        ("web", Action.CREATED, True),
    ]
    sent = [
        (r.verb, r.resource, r.name)
        for r in api_audit.since(mark)
        if r.namespace == fresh and r.resource != "namespaces"
    ]
    assert sent == [("patch", "configmaps", "a"), ("patch", "services", "web")]


def test_an_object_that_appears_in_the_new_namespace_before_its_apply_fails_loudly(
    cluster: Cluster, fresh: str
) -> None:
    desired = [new_namespace(fresh), ours(cm("a"), fresh), ours(service("web"), fresh)]
    the_plan = plan(cluster, desired, force=False, ownership=OWN)
    planted = cm("a", "theirs")
    planted["metadata"].update(namespace=fresh, labels={PART_OF: "applyset-of-another-app"})
    done = run(cluster, the_plan, Planting(cluster, "config", planted))
    assert [(a.ref.name, a.action) for a in done] == [
        (fresh, Action.CREATED),
        ("a", Action.FAILED),
        ("web", Action.SKIPPED),
    ]
    assert done[1].error == f"{done[1].ref} {apply_module.APPEARED}"
    assert cluster.get(cluster.resource("v1", "Service"), "web", fresh) is None


def test_a_new_namespace_someone_else_created_meanwhile_is_read_as_before(
    cluster: Cluster, fresh: str, api_audit: AuditLog
) -> None:
    desired = [new_namespace(fresh), ours(cm("a"), fresh)]
    the_plan = plan(cluster, desired, force=False, ownership=OWN)
    cluster.apply(
        cluster.resource("v1", "Namespace"), new_namespace(fresh), dry_run=False, force=False
    )
    theirs = cm("a", "theirs")
    theirs["metadata"]["namespace"] = fresh
    cluster.apply(cluster.resource("v1", "ConfigMap"), theirs, dry_run=False, force=False)
    mark = api_audit.mark()
    done = run(cluster, the_plan, Calls())
    assert [(a.ref.name, a.action, a.created) for a in done] == [
        (fresh, Action.CREATED, False),
        ("a", Action.FAILED, False),
    ]
    assert done[1].error is not None and "adopt" in done[1].error
    sent = [(r.verb, r.name) for r in api_audit.since(mark) if r.resource == "configmaps"]
    assert sent == [("get", "a")]
    data = (cluster.get(cluster.resource("v1", "ConfigMap"), "a", fresh) or {})["data"]
    assert data == {"value": "theirs"}
