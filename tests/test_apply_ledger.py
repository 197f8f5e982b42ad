"""A resync reads the app's objects in bulk and skips the dry run of objects the apply
ledger proves unchanged; what changed in the cluster since is still found.

Requests are counted in the API server's audit log, not inferred from resourceVersions.
"""

from __future__ import annotations

import pytest
from kubernetes.dynamic import DynamicClient

from tests.audit import AuditLog
from tests.gitops import GitOps, cm, dump, live

NAMES = ("a", "b", "c", "d", "e", "f")


@pytest.fixture(autouse=True)
def one_engine(gitops: GitOps, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every sync through one engine, as a worker runs them: a resync then also LISTs the
    app's kinds while it fetches (``live.Prefetch``), and what it finds must be as exact."""
    engine = gitops.engine()
    monkeypatch.setattr(gitops, "engine", lambda **changes: engine)
    monkeypatch.setattr(gitops, "sync", lambda sha, **changes: engine.sync(gitops.app, sha))


def _app(gitops: GitOps) -> str:
    return gitops.commit({"apps/shop/app.yaml": dump(*(cm(n) for n in NAMES))})


def test_a_no_op_resync_costs_a_few_lists_not_a_request_per_object(
    gitops: GitOps, api_audit: AuditLog
) -> None:
    sha = _app(gitops)
    assert gitops.sync(sha).ok
    mark = api_audit.mark()
    result = gitops.sync(sha)
    assert result.ok, result.error
    assert sorted(result.unchanged) == [f"ConfigMap {gitops.namespace}/{n}" for n in NAMES]
    sent = [r for r in api_audit.since(mark) if r.resource == "configmaps"]
    members = [r for r in sent if r.name in NAMES]
    assert members == [], "a proven-unchanged member was read or dry-run one by one"
    lists = [r for r in sent if r.verb == "list"]
    assert 1 <= len(lists) <= 2
    assert [r for r in sent if r.write] == []


def test_a_hand_edit_after_a_sync_is_still_found_and_undone(
    gitops: GitOps, dyn: DynamicClient, api_audit: AuditLog
) -> None:
    sha = _app(gitops)
    assert gitops.sync(sha).ok
    configmaps = dyn.resources.get(api_version="v1", kind="ConfigMap")
    configmaps.patch(
        body={"data": {"value": "edited"}},
        name="c",
        namespace=gitops.namespace,
        content_type="application/merge-patch+json",
    )
    drift = gitops.engine().sync(gitops.app, sha, dry_run=True)
    assert drift.configured == (f"ConfigMap {gitops.namespace}/c",)
    mark = api_audit.mark()
    result = gitops.sync(sha)
    assert result.configured == (f"ConfigMap {gitops.namespace}/c",)
    assert live(dyn, "ConfigMap", "c", gitops.namespace)["data"]["value"] == "1"
    dry_runs = {r.name for r in api_audit.since(mark) if r.dry_run and r.resource == "configmaps"}
    assert dry_runs & set(NAMES) == {"c"}, "only the edited object needed a dry run"


def test_an_object_deleted_by_hand_is_created_again(gitops: GitOps, dyn: DynamicClient) -> None:
    sha = _app(gitops)
    assert gitops.sync(sha).ok
    configmaps = dyn.resources.get(api_version="v1", kind="ConfigMap")
    configmaps.delete(name="d", namespace=gitops.namespace)
    result = gitops.sync(sha)
    assert result.created == (f"ConfigMap {gitops.namespace}/d",)
    assert live(dyn, "ConfigMap", "d", gitops.namespace) is not None


def test_a_corrupt_ledger_costs_requests_not_correctness(
    gitops: GitOps, dyn: DynamicClient, api_audit: AuditLog
) -> None:
    sha = _app(gitops)
    assert gitops.sync(sha).ok
    ledgers = list((gitops.cache / "applied").glob("*.json"))
    assert ledgers, "the sync recorded no ledger"
    for ledger in ledgers:
        ledger.write_text('{"ConfigMap x/a": "not a pair"')
    mark = api_audit.mark()
    result = gitops.sync(sha)
    assert result.ok, result.error
    assert len(result.unchanged) == len(NAMES)
    dry_runs = {r.name for r in api_audit.since(mark) if r.dry_run and r.resource == "configmaps"}
    assert set(NAMES) <= dry_runs


def test_an_unlabelled_object_of_a_desired_name_is_refused_when_read_in_bulk(
    gitops: GitOps, dyn: DynamicClient, api_audit: AuditLog
) -> None:
    configmaps = dyn.resources.get(api_version="v1", kind="ConfigMap")
    configmaps.create(
        body={"metadata": {"name": "e"}, "data": {"owner": "someone else"}},
        namespace=gitops.namespace,
    )
    mark = api_audit.mark()
    result = gitops.sync(_app(gitops))
    assert not result.ok
    assert f"ConfigMap {gitops.namespace}/e" in (result.error or "")
    assert [r for r in api_audit.since(mark) if r.write and r.resource == "configmaps"] == []
    assert live(dyn, "ConfigMap", "e", gitops.namespace)["data"] == {"owner": "someone else"}
