"""``apply.plan`` against the real API server: what it defers, refuses or proves without a
dry run, and which requests that costs, each read back from the API server's audit log.
Nothing is written: every plan here is followed by no write at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.audit import AuditLog, Request
from tests.gitops import cm, deployment
from webhook.kube.apply import Planned, plan
from webhook.kube.applyset import PART_OF, Ownership
from webhook.kube.client import Cluster
from webhook.kube.live import Snapshot, digest, version_of
from webhook.objects import Action, ref_of

SET = "applyset-plan-decisions-test"
OWN = Ownership(id=SET)


@pytest.fixture
def cluster(kubeconfig: Path, tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(context=None, cache_dir=tmp_path, kubeconfig=kubeconfig)
    yield c
    c.close()


def ours(body: dict[str, Any], namespace: str | None) -> dict[str, Any]:
    body["metadata"].setdefault("labels", {})[PART_OF] = SET
    if namespace is not None:
        body["metadata"]["namespace"] = namespace
    return body


def create(cluster: Cluster, body: dict[str, Any]) -> dict[str, Any]:
    resource = cluster.resource(body["apiVersion"], body["kind"])
    return cluster.apply(resource, body, dry_run=False, force=False)


def sent(audit: AuditLog, mark: int) -> list[Request]:
    requests = audit.since(mark)
    assert [r for r in requests if r.write] == [], "a plan wrote"
    return requests


def by_name(planned: list[Planned]) -> dict[str, Planned]:
    return {p.ref.name: p for p in planned}


def test_objects_in_a_new_namespace_wait_for_it_and_cost_no_request(
    cluster: Cluster, namespace: str, api_audit: AuditLog
) -> None:
    new = f"t-plan-new-{uuid.uuid4().hex[:8]}"
    desired = [
        ours(cm("inside", "1"), new),
        ours({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": new}}, None),
        ours({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, None),
        ours(cm("beside", "1"), namespace),
    ]
    mark = api_audit.mark()
    items = by_name(plan(cluster, desired, force=False, ownership=OWN).items)
    requests = sent(api_audit, mark)
    assert items[new].action is Action.CREATED and items[new].deferred is None
    assert items["inside"].deferred == f"namespace {new} is new"
    assert items["inside"].result is None and items["inside"].error is None
    # The existing namespace (live, labelled by the fixture, not ours) is refused, not new:
    # what is in it is planned now.
    assert items[namespace].live is not None
    assert items["beside"].deferred is None and items["beside"].action is Action.CREATED
    assert [r for r in requests if r.namespace == new and r.resource != "namespaces"] == []


def test_a_kind_nobody_serves_or_defines_is_an_error_naming_it(
    cluster: Cluster, namespace: str
) -> None:
    gizmo = ours(
        {"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "g"}}, namespace
    )
    [item] = plan(cluster, [gizmo], force=False, ownership=OWN).items
    assert item.deferred is None
    assert item.error is not None and "Gizmo" in item.error and "example.com/v1" in item.error


def test_a_known_snapshot_saves_the_gets_and_the_ledger_the_dry_runs(
    cluster: Cluster, namespace: str, api_audit: AuditLog
) -> None:
    kept, edited, gone = (ours(cm(n, "1"), namespace) for n in ("kept", "edited", "gone"))
    live_kept, live_edited = create(cluster, kept), create(cluster, edited)
    changed = ours(cm("edited", "2"), namespace)
    known = Snapshot(
        live={ref_of(kept): live_kept, ref_of(changed): live_edited}, absent={ref_of(gone)}
    )
    proven = {
        str(ref_of(kept)): (digest(kept, force=False), version_of(live_kept) or ""),
        # Proven at another resourceVersion: someone wrote since, a dry run is needed.
        str(ref_of(changed)): (digest(changed, force=False), "1"),
    }
    mark = api_audit.mark()
    the_plan = plan(
        cluster, [kept, changed, gone], force=False, ownership=OWN, known=known, proven=proven
    )
    requests = [r for r in sent(api_audit, mark) if r.resource == "configmaps"]
    assert [r for r in requests if r.verb == "get"] == [], "a known object was read again"
    assert sorted(r.name or "" for r in requests if r.dry_run) == ["edited", "gone"]
    items = by_name(the_plan.items)
    assert items["kept"].action is Action.UNCHANGED
    assert items["kept"].live == live_kept and items["kept"].result == live_kept
    assert items["edited"].action is Action.CONFIGURED and items["edited"].live == live_edited
    assert items["edited"].result is not None
    assert items["edited"].result["data"] == {"value": "2"}  # the dry run's answer
    assert items["gone"].action is Action.CREATED and items["gone"].live is None


def test_an_object_of_another_owner_is_refused_with_its_live_state_and_no_dry_run(
    cluster: Cluster, namespace: str, api_audit: AuditLog
) -> None:
    theirs = cm("theirs", "1")
    theirs["metadata"]["namespace"] = namespace
    existing = create(cluster, theirs)
    mark = api_audit.mark()
    [item] = plan(cluster, [ours(cm("theirs", "2"), namespace)], force=False, ownership=OWN).items
    assert item.error == (
        f"ConfigMap {namespace}/theirs exists and was not applied by this app (no owner); "
        "set adopt: true on this app to take it over"
    )
    assert item.live is not None
    assert item.live["metadata"]["uid"] == existing["metadata"]["uid"]
    assert [r for r in sent(api_audit, mark) if r.dry_run] == []


def test_an_immutable_change_is_a_recreate_when_asked_and_an_error_otherwise(
    cluster: Cluster, namespace: str
) -> None:
    app = ours(deployment("web"), namespace)
    existing = create(cluster, app)
    moved = ours(deployment("web"), namespace)
    moved["spec"]["selector"]["matchLabels"] = {"app": "web", "tier": "2"}
    moved["spec"]["template"]["metadata"]["labels"] = {"app": "web", "tier": "2"}
    [refused] = plan(cluster, [moved], force=False, ownership=OWN).items
    assert refused.error is not None and "spec.selector" in refused.error
    assert refused.recreate is False
    moved["metadata"]["annotations"] = {"argocd.argoproj.io/sync-options": "Replace=true"}
    [item] = plan(cluster, [moved], force=False, ownership=OWN).items
    assert item.error is None
    assert (item.action, item.recreate) == (Action.CONFIGURED, True)
    assert item.live is not None and item.live["metadata"]["uid"] == existing["metadata"]["uid"]


def test_a_dry_run_the_server_refuses_is_an_error_with_its_reason(
    cluster: Cluster, namespace: str
) -> None:
    bad = ours(cm("Not_A_Name", "1"), namespace)
    [item] = plan(cluster, [bad], force=False, ownership=OWN).items
    assert item.error is not None
    assert "Not_A_Name" in item.error and "RFC 1123" in item.error
    assert (item.live, item.result, item.ref) == (None, None, ref_of(bad))


def test_a_kind_two_groups_serve_is_dry_run_as_its_own_api_version(
    cluster: Cluster, namespace: str
) -> None:
    """``Event`` is served by ``v1`` and ``events.k8s.io/v1``: by kind alone it is ambiguous."""
    event = ours(
        {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": "planned"},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "reportingController": "example.com/plan-test",
            "reportingInstance": "plan-test",
            "action": "Test",
            "reason": "Test",
            "type": "Normal",
            "regarding": {"kind": "ConfigMap", "name": "x", "namespace": namespace},
        },
        namespace,
    )
    [item] = plan(cluster, [event], force=False, ownership=OWN).items
    assert item.error is None and item.action is Action.CREATED
    assert item.result is not None and item.result["apiVersion"] == "events.k8s.io/v1"
