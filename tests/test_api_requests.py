"""What a sync sends the API server, counted in its audit log rather than inferred.

A no-op must write nothing (an unchanged resourceVersion would not show an identical apply),
and a change must write exactly what its plan says, dry runs aside.
"""

from __future__ import annotations

from tests.audit import AuditLog
from tests.gitops import GitOps, cm, dump, service


def test_a_no_op_sync_sends_no_write(gitops: GitOps, api_audit: AuditLog) -> None:
    sha = gitops.commit({"apps/shop/app.yaml": dump(cm("a"), cm("b"), service("web"))})
    assert gitops.sync(sha).ok
    mark = api_audit.mark()
    result = gitops.sync(sha)
    assert result.ok, result.error
    sent = api_audit.since(mark)
    assert sent, "the audit log shows no request of the deployer at all"
    assert [r for r in sent if r.write] == []
    # Every object was read again: the ledger proves it unchanged only at the
    # resourceVersion it recorded (tests/test_apply_ledger.py covers what that skips).
    read = {(r.resource, r.name) for r in sent if r.verb == "get"}
    assert {("configmaps", "a"), ("configmaps", "b"), ("services", "web")} <= read


def test_a_sync_writes_only_what_its_plan_changes(gitops: GitOps, api_audit: AuditLog) -> None:
    first = gitops.commit({"apps/shop/app.yaml": dump(cm("a"), cm("b"), service("web"))})
    assert gitops.sync(first).ok
    second = gitops.commit({"apps/shop/app.yaml": dump(cm("a", "2"), cm("b"), service("web"))})
    mark = api_audit.mark()
    result = gitops.sync(second)
    assert result.ok, result.error
    assert result.configured == ("ConfigMap " + gitops.namespace + "/a",)
    writes = [(r.verb, r.resource, r.namespace, r.name) for r in api_audit.since(mark) if r.write]
    assert writes == [("patch", "configmaps", gitops.namespace, "a")]
