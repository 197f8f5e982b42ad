"""``live.read``, ``live.groups`` and ``live.Prefetch`` against the real API server: what a
bulk read proves (live, absent, or nothing) and what it costs, each request read back from
the API server's audit log. The plan's own decisions on what was read: ``test_plan_decisions.py``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from tests.audit import AuditLog, Request
from tests.gitops import cm
from webhook.kube import live
from webhook.kube.applyset import PART_OF
from webhook.kube.client import Cluster
from webhook.kube.live import MIN_GROUP, Prefetch, Snapshot
from webhook.objects import ref_of

SET = "applyset-plan-reads-test"


@pytest.fixture
def cluster(kubeconfig: Path, tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(context=None, cache_dir=tmp_path, kubeconfig=kubeconfig)
    yield c
    c.close()


@pytest.fixture
def other_namespace(kubeconfig: Path) -> Iterator[str]:
    """A second fresh namespace, deleted afterwards without waiting."""
    name = f"t-plan-reads-{uuid.uuid4().hex[:8]}"
    api = config.new_client_from_config(config_file=str(kubeconfig))
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name, propagation_policy="Background")
    api.close()


def ours(body: dict[str, Any], namespace: str) -> dict[str, Any]:
    body["metadata"]["namespace"] = namespace
    body["metadata"].setdefault("labels", {})[PART_OF] = SET
    return body


def create(cluster: Cluster, *bodies: dict[str, Any]) -> None:
    for body in bodies:
        cluster.apply(cluster.resource("v1", body["kind"]), body, dry_run=False, force=False)


def reads(audit: AuditLog, mark: int, resource: str = "configmaps") -> list[Request]:
    return [r for r in audit.since(mark) if r.resource == resource]


def group(namespace: str, n: int = MIN_GROUP, value: str = "1") -> list[dict[str, Any]]:
    return [ours(cm(f"c{i}", value), namespace) for i in range(n)]


def test_members_found_by_label_cost_one_list_and_prove_their_live_objects(
    cluster: Cluster, namespace: str, api_audit: AuditLog
) -> None:
    desired = group(namespace)
    create(cluster, *desired)
    mark = api_audit.mark()
    snapshot = live.read(cluster, desired, SET)
    sent = reads(api_audit, mark)
    assert [(r.verb, r.namespace, r.name) for r in sent] == [("list", namespace, None)]
    assert sorted(str(ref) for ref in snapshot.live) == sorted(str(ref_of(b)) for b in desired)
    assert snapshot.absent == set()
    for ref, body in snapshot.live.items():
        assert body["metadata"]["name"] == ref.name
        assert body["data"] == {"value": "1"}


def test_missing_members_cost_one_list_of_names_and_an_unlabelled_one_is_left_unproven(
    cluster: Cluster, namespace: str, api_audit: AuditLog
) -> None:
    desired = group(namespace, MIN_GROUP + 2)
    create(cluster, *desired[:2])
    stranger = cm(desired[2]["metadata"]["name"], "theirs")
    stranger["metadata"]["namespace"] = namespace
    create(cluster, stranger)  # the name of a desired object, without this app's label
    mark = api_audit.mark()
    snapshot = live.read(cluster, desired, SET)
    assert [(r.verb, r.namespace) for r in reads(api_audit, mark)] == [("list", namespace)] * 2
    refs = [ref_of(b) for b in desired]
    assert set(snapshot.live) == set(refs[:2])
    assert snapshot.absent == set(refs[3:])
    assert not snapshot.knows(refs[2])  # the plan reads it and refuses it


def test_same_names_in_two_namespaces_are_each_read_in_their_own(
    cluster: Cluster, namespace: str, other_namespace: str, api_audit: AuditLog
) -> None:
    """Names are matched within the group's namespace: a LIST of every namespace would prove
    the other namespace's object live here (or a name taken there taken here)."""
    here = group(namespace, value="here")
    there = group(other_namespace, value="there")
    create(cluster, *here[:2], *there)
    mark = api_audit.mark()
    snapshot = live.read(cluster, [*here, *there], SET)
    sent = reads(api_audit, mark)
    assert all(r.namespace in (namespace, other_namespace) for r in sent), sent
    assert {ref.namespace for ref in snapshot.live} == {namespace, other_namespace}
    for ref, body in snapshot.live.items():
        assert body["metadata"]["namespace"] == ref.namespace
        assert body["data"]["value"] == ("here" if ref.namespace == namespace else "there")
    assert snapshot.absent == {ref_of(b) for b in here[2:]}


def test_small_groups_and_skipped_namespaces_are_not_listed(
    cluster: Cluster, namespace: str, other_namespace: str, api_audit: AuditLog
) -> None:
    few = group(namespace, MIN_GROUP - 1)
    new = group(other_namespace)
    create(cluster, *few)
    mark = api_audit.mark()
    snapshot = live.read(cluster, [*few, *new], SET, skip_namespaces=[other_namespace])
    assert reads(api_audit, mark) == []
    assert snapshot == Snapshot()
    assert live.groups([*few, *new]) == {("v1", "ConfigMap", other_namespace)}
    # Exactly MIN_GROUP is a group, in a namespace not skipped; a skip elsewhere changes nothing.
    snapshot = live.read(cluster, new, SET, skip_namespaces=[namespace])
    assert snapshot.absent == {ref_of(b) for b in new}


def test_a_cluster_scoped_kind_is_listed_across_the_cluster_despite_skipped_namespaces(
    cluster: Cluster, kubeconfig: Path, api_audit: AuditLog
) -> None:
    tag = uuid.uuid4().hex[:8]
    roles = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": f"plan-reads-{tag}-{i}", "labels": {PART_OF: SET}},
            "rules": [],
        }
        for i in range(MIN_GROUP)
    ]
    resource = cluster.resource("rbac.authorization.k8s.io/v1", "ClusterRole")
    cluster.apply(resource, roles[0], dry_run=False, force=False)
    try:
        mark = api_audit.mark()
        snapshot = live.read(cluster, roles, SET, skip_namespaces=["anything"])
        sent = reads(api_audit, mark, "clusterroles")
        assert [(r.verb, r.namespace) for r in sent] == [("list", None)] * 2
        assert set(snapshot.live) == {ref_of(roles[0])}
        assert snapshot.absent == {ref_of(b) for b in roles[1:]}
    finally:
        api = config.new_client_from_config(config_file=str(kubeconfig))
        client.RbacAuthorizationV1Api(api).delete_cluster_role(roles[0]["metadata"]["name"])
        api.close()


def test_a_kind_the_cluster_does_not_serve_proves_nothing(
    cluster: Cluster, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    bodies = [
        {"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": f"g{i}"}}
        for i in range(MIN_GROUP)
    ]
    for body in bodies:
        ours(body, namespace)
    assert live.read(cluster, bodies, SET) == Snapshot()
    prefetch = Prefetch(cluster, [("example.com/v1", "Gizmo", namespace)], SET)
    with caplog.at_level(logging.DEBUG, logger="webhook.kube.live"):
        assert prefetch.members(("example.com/v1", "Gizmo", namespace)) is None
    [message] = [r.getMessage() for r in caplog.records]
    assert message.startswith(f"prefetch of Gizmo in {namespace} failed: Gizmo (example.com/v1)")


def test_a_prefetched_group_is_not_listed_again_and_others_are_read_as_before(
    cluster: Cluster, namespace: str, other_namespace: str, api_audit: AuditLog
) -> None:
    here, there = group(namespace), group(other_namespace)
    create(cluster, *here, *there[:1])
    key = ("v1", "ConfigMap", namespace)
    mark = api_audit.mark()
    prefetch = Prefetch(cluster, [key], SET)
    assert prefetch.keys == {key}
    members = prefetch.members(key)
    assert members is not None
    assert sorted(m["metadata"]["name"] for m in members) == [f"c{i}" for i in range(MIN_GROUP)]
    assert prefetch.members(("v1", "ConfigMap", other_namespace)) is None
    assert [(r.verb, r.namespace) for r in reads(api_audit, mark)] == [("list", namespace)]
    mark = api_audit.mark()
    snapshot = live.read(cluster, [*here, *there], SET, prefetched=prefetch)
    # ``there``: its members' LIST, then the names (three are missing); ``here``: nothing.
    assert [(r.verb, r.namespace) for r in reads(api_audit, mark)] == [
        ("list", other_namespace)
    ] * 2
    assert set(snapshot.live) == {ref_of(b) for b in [*here, there[0]]}
    assert snapshot.absent == {ref_of(b) for b in there[1:]}
    assert Prefetch(cluster, [], SET).keys == set()


def test_a_kind_two_groups_serve_is_read_as_its_own_api_version(
    cluster: Cluster, namespace: str
) -> None:
    """``Event`` is served by ``v1`` and ``events.k8s.io/v1``: read by kind alone it would be
    ambiguous, and the read would raise instead of proving anything."""
    events = [
        ours(
            {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": f"e{i}"}},
            namespace,
        )
        for i in range(MIN_GROUP)
    ]
    key = ("events.k8s.io/v1", "Event", namespace)
    assert Prefetch(cluster, [key], SET).members(key) == []
    assert live.read(cluster, events, SET).absent == {ref_of(e) for e in events}


def test_a_kind_the_server_will_not_list_proves_nothing_and_says_so(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    """A LIST the server refuses (405: SelfSubjectAccessReviews can only be created) leaves
    every object to be read one by one; the prefetch of it answers nothing either."""
    kind = "SelfSubjectAccessReview"
    reviews = [
        {"apiVersion": "authorization.k8s.io/v1", "kind": kind, "metadata": {"name": f"r{i}"}}
        for i in range(MIN_GROUP)
    ]
    key = ("authorization.k8s.io/v1", kind, None)
    refused = f"list {kind}: the server does not allow this method on the requested resource"
    with caplog.at_level(logging.DEBUG, logger="webhook.kube.live"):
        assert live.read(cluster, reviews, SET) == Snapshot()
        assert Prefetch(cluster, [key], SET).members(key) is None
    assert [r.getMessage() for r in caplog.records if r.name == "webhook.kube.live"] == [
        f"bulk read of {kind} in None failed, reading one by one: {refused}",
        f"prefetch of {kind} in None failed: {refused}",
    ]


def test_a_refused_list_in_a_namespace_is_logged_naming_it(
    cluster: Cluster, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    kind = "LocalSubjectAccessReview"  # namespaced, and can only be created
    reviews = [
        ours(
            {"apiVersion": "authorization.k8s.io/v1", "kind": kind, "metadata": {"name": f"r{i}"}},
            namespace,
        )
        for i in range(MIN_GROUP)
    ]
    with caplog.at_level(logging.DEBUG, logger="webhook.kube.live"):
        assert live.read(cluster, reviews, SET) == Snapshot()
    [message] = [r.getMessage() for r in caplog.records if r.name == "webhook.kube.live"]
    assert message.startswith(f"bulk read of {kind} in {namespace} failed, reading one by one: ")
