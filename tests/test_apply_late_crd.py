"""``apply.execute`` waits for a new CRD that the API server establishes late, then applies
its custom resources in the same run.

The test control plane establishes a new CRD within milliseconds, before a client's first
look-up could miss it; a busier API server does not. Here the lateness is real, not timed:
the new CRD's list kind is held by another CRD of its group (``ListKindConflict``), so the
API server does not serve it until that other CRD is deleted, and the test deletes it only
after the engine has read the new CRD once (seen in the audit log), so that first read
finds it not Established.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

from kubernetes import client, config

from tests.audit import AuditLog
from tests.gitops import widget_crd
from tests.test_apply_execute import OWN, TIERS, Calls, cluster, ours, run, writes
from webhook.kube.apply import plan, wait_established
from webhook.kube.applyset import PART_OF
from webhook.kube.client import Cluster
from webhook.objects import Action, ref_of

__all__ = ["cluster"]  # the fixture, shared with test_apply_execute.py

CRDS = "customresourcedefinitions"


def gadget_crd(group: str) -> dict[str, Any]:
    """Kind ``Gadget``, but with ``WidgetList``, the list kind of ``widget_crd(group)``."""
    crd = widget_crd(group, {"x-kubernetes-preserve-unknown-fields": True})
    crd["metadata"]["name"] = f"gadgets.{group}"
    crd["spec"]["names"] = {
        "plural": "gadgets",
        "singular": "gadget",
        "kind": "Gadget",
        "listKind": "WidgetList",
    }
    return crd


class DeleteOnceRead:
    """Deletes CRD ``delete`` (as another client) once the engine has read CRD ``read``."""

    def __init__(
        self, kubeconfig: Path, audit: AuditLog, mark: int, read: str, delete: str
    ) -> None:
        self.kubeconfig, self.audit, self.mark = kubeconfig, audit, mark
        self.read, self.delete = read, delete
        self.stop = threading.Event()
        self.deleted = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while not self.stop.is_set():
            requests = self.audit.so_far(self.mark)
            if any(
                r.verb == "get" and r.resource == CRDS and r.name == self.read for r in requests
            ):
                api = config.new_client_from_config(config_file=str(self.kubeconfig))
                try:
                    client.ApiextensionsV1Api(api).delete_custom_resource_definition(self.delete)
                finally:
                    api.close()
                self.deleted.set()
                return
            time.sleep(0.05)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)


def test_a_crd_established_late_is_waited_for_before_its_custom_resource_is_written(
    cluster: Cluster, kubeconfig: Path, namespace: str, api_audit: AuditLog
) -> None:
    group = f"x{uuid.uuid4().hex[:8]}.example.com"
    theirs = widget_crd(group, {"x-kubernetes-preserve-unknown-fields": True})
    crds = cluster.resource("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    cluster.apply(crds, theirs, dry_run=False, force=False)
    assert wait_established(cluster, [theirs["metadata"]["name"]], 30) == []  # its names first
    new = ours(gadget_crd(group), None)
    gadget = ours(
        {"apiVersion": f"{group}/v1", "kind": "Gadget", "metadata": {"name": "g"}, "spec": {}},
        namespace,
    )
    the_plan = plan(cluster, [new, gadget], force=False, ownership=OWN)
    assert the_plan.errors == []
    assert [p.deferred is not None for p in the_plan.items] == [False, True]
    calls = Calls()
    mark = api_audit.mark()
    releaser = DeleteOnceRead(
        kubeconfig, api_audit, mark, new["metadata"]["name"], theirs["metadata"]["name"]
    )
    try:
        done = run(cluster, the_plan, calls)
        releaser.close()
        assert [(a.ref, a.action, a.error) for a in done] == [
            (ref_of(new), Action.CREATED, None),
            (ref_of(gadget), Action.CREATED, None),
        ]
        assert calls.after == TIERS
        assert writes(api_audit, mark) == [(CRDS, f"gadgets.{group}"), ("gadgets", "g")]
        assert releaser.deleted.is_set()
        # The first read found it not Established (the conflict was still there): the engine
        # read it again, and wrote the custom resource only after.
        sent = [(r.verb, r.resource, r.name) for r in api_audit.since(mark)]
        reads = [i for i, r in enumerate(sent) if r == ("get", CRDS, f"gadgets.{group}")]
        assert len(reads) >= 2 and reads[-1] < sent.index(("patch", "gadgets", "g")), sent
        live = cluster.get(cluster.resource(f"{group}/v1", "Gadget"), "g", namespace)
        assert live is not None and live["metadata"]["labels"][PART_OF] == OWN.id
    finally:
        releaser.close()
        for name in (f"widgets.{group}", f"gadgets.{group}"):
            cluster.delete(crds, name, None)
