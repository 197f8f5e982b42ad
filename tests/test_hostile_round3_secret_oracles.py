"""Round 3 of the attacker's review: a preview's dry run must not answer a guess of a live
Secret's value by failing or not. Two ways it did, on the real control plane:

- a Secret marked ``immutable: true``: a wrong guess failed ("data cannot change in place"),
  a right one passed;
- an app with ``force_conflicts: false`` and a value another field manager set (an operator
  rotating it by hand): a wrong guess was a conflict, a right one was not.

A preview now dry-runs a live Secret with its live values in the keys it already has (new
keys as written), and keeps no proof from it for later syncs.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from kubernetes import client as k8s

from tests.gitops import GitOps, dump
from tests.test_preview import preview_job
from webhook.model import JobState
from webhook.steps import run_job

LIVE = "live-value-4d2a"


def secret(value: str, **fields: Any) -> dict[str, Any]:
    """The Secret as the repository writes it: its value in ``data`` (base64), as a value
    another field manager owns is compared (``stringData`` is never stored)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db"},
        "data": {"pw": base64.b64encode(value.encode()).decode()},
        **fields,
    }


def previews(gitops: GitOps, **fields: Any) -> dict[str, str]:
    """The preview's outcome (message and record, bar commit and duration) per guess."""
    seen = {}
    for guess in ("a-wrong-guess", LIVE):
        head = gitops.commit({"apps/shop/app.yaml": dump(secret(guess, **fields))})
        outcome = run_job(
            gitops.engine(force_conflicts=gitops.app.force_conflicts), preview_job(head)
        )
        record = {k: v for k, v in outcome.result.items() if k not in ("commit", "duration")}
        seen[guess] = json.dumps([outcome.state.value, outcome.message, record], sort_keys=True)
    return seen


def test_an_immutable_secret_answers_no_guess(gitops: GitOps) -> None:
    assert gitops.sync(gitops.commit({"apps/shop/app.yaml": dump(secret(LIVE, immutable=True))})).ok
    seen = previews(gitops, immutable=True)
    assert seen["a-wrong-guess"] == seen[LIVE]
    assert '"succeeded"' in seen[LIVE] and "1 to change" in seen[LIVE]


def test_a_value_another_manager_set_answers_no_guess_without_force(
    gitops: GitOps, k8s_api_client: k8s.ApiClient, namespace: str
) -> None:
    assert gitops.sync(
        gitops.commit({"apps/shop/app.yaml": dump(secret("first"))}), force_conflicts=False
    ).ok
    # An operator rotates the value by hand, as another field manager.
    k8s.CoreV1Api(k8s_api_client).patch_namespaced_secret(
        "db",
        namespace,
        {"data": {"pw": base64.b64encode(LIVE.encode()).decode()}},
        field_manager="ops-rotation",
    )
    seen = previews(gitops)
    assert seen["a-wrong-guess"] == seen[LIVE]
    assert '"succeeded"' in seen[LIVE]


def test_a_preview_proves_nothing_for_the_merge_that_follows(
    gitops: GitOps, k8s_api_client: k8s.ApiClient, namespace: str
) -> None:
    """The preview of a new value ran with the live one; the merge must still apply it."""
    assert gitops.sync(gitops.commit({"apps/shop/app.yaml": dump(secret(LIVE))})).ok
    head = gitops.commit({"apps/shop/app.yaml": dump(secret("the-new-value"))})
    assert run_job(gitops.engine(), preview_job(head)).state is JobState.SUCCEEDED
    assert gitops.sync(head).ok
    data = k8s.CoreV1Api(k8s_api_client).read_namespaced_secret("db", namespace).data
    assert base64.b64decode(data["pw"]).decode() == "the-new-value"


def test_keys_the_live_secret_has_take_its_values_new_keys_keep_the_commits() -> None:
    from webhook.kube.diff import with_live_values

    desired = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db"},
        "data": {"pw": "Z3Vlc3M=", "new": "bmV3"},
        "stringData": {"user": "guess", "token": "t"},
    }
    live = {"kind": "Secret", "data": {"pw": "bGl2ZQ==", "user": "b3Bz", "gone": "eA=="}}
    assert with_live_values(desired, live) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db"},
        "data": {"pw": "bGl2ZQ==", "new": "bmV3", "user": "b3Bz"},
        "stringData": {"token": "t"},
    }
    config = {**desired, "kind": "ConfigMap"}
    assert with_live_values(config, live) is config
    assert with_live_values(desired, None) is desired
