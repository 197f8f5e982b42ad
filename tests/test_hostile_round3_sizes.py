"""Round 3 of the attacker's review: how much a pull request can make the deployer store and
show. A failure's text quotes the repository (a name the guard refuses, a value the API
server refuses), and every job kept it whole: a 1 MB name became a 1 MB error in the job's
record, its page and its API answer, on every push of the PR. Real git, the real engine."""

from __future__ import annotations

import json

from tests.gitops import GitOps, dump
from tests.test_preview import preview_job
from webhook.model import JobState
from webhook.result import MAX_ERROR_CHARS, MAX_ERRORS, ObjectError, SyncResult
from webhook.steps import run_job


def test_a_huge_name_in_a_manifest_is_not_kept_whole_in_the_job(gitops: GitOps) -> None:
    huge = "x" * 1_000_000
    bad = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": huge}}
    head = gitops.commit({"apps/shop/app.yaml": dump(bad)})
    outcome = run_job(gitops.engine(), preview_job(head))
    assert outcome.state is JobState.FAILED
    assert outcome.result["error_kind"] == "guard"
    assert "metadata.name" in outcome.result["error"]
    assert len(json.dumps(outcome.result)) < 4 * MAX_ERROR_CHARS


def test_a_result_keeps_a_bounded_number_of_bounded_errors() -> None:
    many = [f"object {n}: " + "y" * 10_000 for n in range(5 * MAX_ERRORS)]
    result = SyncResult(
        app="shop",
        commit="0" * 40,
        error=many[0],
        errors=tuple(many),
        failed=tuple(ObjectError(f"ConfigMap ns/c{n}", many[n]) for n in range(3)),
    )
    assert result.error is not None and len(result.error) <= MAX_ERROR_CHARS
    assert result.error.startswith("object 0: yyy")
    assert len(result.errors) == MAX_ERRORS + 1
    assert result.errors[-1] == f"… and {4 * MAX_ERRORS} more errors"
    assert all(len(e) <= MAX_ERROR_CHARS for e in result.errors)
    assert [f.object for f in result.failed] == [
        "ConfigMap ns/c0",
        "ConfigMap ns/c1",
        "ConfigMap ns/c2",
    ]
    assert all(len(f.error) <= MAX_ERROR_CHARS for f in result.failed)
