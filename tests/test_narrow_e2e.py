"""Every narrowing path end to end (``steps.narrowed``, ``SyncEngine.touches``): a signed
delivery through the Flask app, the worker with the real engine on the real control plane,
real git, the reporter and the local GitHub API server. Two apps, ``shop`` and ``cart``,
share one repository; what the deployer did to each is read from the cluster, the job
records and the statuses GitHub received."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from kubernetes import client as k8s

from tests.github.examples import branch_push, example
from tests.pipeline import REPO, Deployer, cm

NARROW_LOG = "cannot narrow by git diff"


def cut_short_push(after: str, before: str, *, forced: bool = False) -> dict[str, Any]:
    """A push whose commit lists name no files (as GitHub sends for very large commits):
    the worker must diff ``before``..``after`` itself."""
    push = branch_push()
    push.update(after=after, before=before, created=False, forced=forced)
    push["commits"][0].update(id=after, added=[], modified=[], removed=[])
    return push


def config_maps(api: k8s.ApiClient, namespace: str) -> dict[str, str]:
    maps = k8s.CoreV1Api(api).list_namespaced_config_map(namespace).items
    # The app's own objects (data ``v``), not its ApplySet parent or the root CA.
    return {m.metadata.name: m.data["v"] for m in maps if "v" in (m.data or {})}


def deploy_all(deployer: Deployer, sha: str) -> None:
    """Both apps deployed at ``sha`` by a branch's first push (every app): their renders'
    inputs are recorded, so later pushes can be narrowed (an app whose inputs are unknown
    counts as touched by any push)."""
    push = branch_push()
    push.update(after=sha)
    deployer.deliver("push", push)
    deployer.work()
    deployer.report()


def jobs_by_app(deployer: Deployer, commit: str) -> dict[str, Any]:
    jobs = [job for app in ("shop", "cart") for job in deployer.store.jobs_for_app(app)]
    return {job.app: job for job in jobs if job.commit == commit}


def test_a_push_narrowed_by_a_base_in_the_repository_syncs_only_the_touched_app(
    two_app_deployer: Deployer,
    k8s_api_client: k8s.ApiClient,
    namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    deployer = two_app_deployer
    base = deployer.commit_apps({"shop": cm("shop"), "cart": cm("cart")})
    deploy_all(deployer, base)
    after = deployer.commit_apps({"shop": cm("shop", "2")})
    with caplog.at_level(logging.WARNING, logger="webhook.steps"):
        deployer.deliver("push", cut_short_push(after, base))
        deployer.work()
        deployer.report()
    assert NARROW_LOG not in caplog.text
    assert config_maps(k8s_api_client, namespace) == {"shop": "2", "cart": "1"}
    jobs = jobs_by_app(deployer, after)
    assert jobs["cart"].result == {"untouched": True}
    assert jobs["cart"].message == f"apps/cart not touched by {after[:7]}"
    assert jobs["shop"].result["configured"]
    assert deployer.github.states(REPO, after, "deploy/shop") == ["success"]
    assert deployer.github.states(REPO, after, "deploy/cart") == []


def test_a_base_missing_from_the_repository_syncs_every_app_and_says_why(
    two_app_deployer: Deployer,
    k8s_api_client: k8s.ApiClient,
    namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    deployer = two_app_deployer
    deployer.commit_apps({"shop": cm("shop"), "cart": cm("cart")})
    after = deployer.commit_apps({"shop": cm("shop", "2")})
    with caplog.at_level(logging.WARNING, logger="webhook.steps"):
        deployer.deliver("push", cut_short_push(after, "f" * 40))
        deployer.work()
        deployer.report()
    assert NARROW_LOG in caplog.text
    assert config_maps(k8s_api_client, namespace) == {"shop": "2", "cart": "1"}
    for app in ("shop", "cart"):
        assert deployer.github.states(REPO, after, f"deploy/{app}") == ["success"]


def test_a_forced_push_syncs_every_app_so_what_it_dropped_is_undone(
    two_app_deployer: Deployer,
    k8s_api_client: k8s.ApiClient,
    namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The dropped commit changed ``cart``; the rewritten history changes only ``shop``.
    Narrowing by the pushed commits would leave cart at the dropped version."""
    deployer = two_app_deployer
    base = deployer.commit_apps({"shop": cm("shop"), "cart": cm("cart")})
    deploy_all(deployer, base)
    dropped = deployer.commit_apps({"cart": cm("cart", "dropped")})
    deployer.deliver("push", cut_short_push(dropped, base))
    deployer.work()
    assert config_maps(k8s_api_client, namespace) == {"shop": "1", "cart": "dropped"}
    deployer.git("reset", "--quiet", "--hard", base)
    rewritten = deployer.commit_apps({"shop": cm("shop", "2")})
    push = cut_short_push(rewritten, dropped, forced=True)
    push["commits"][0].update(modified=["apps/shop/app.yaml"])  # GitHub lists the new commit
    with caplog.at_level(logging.WARNING, logger="webhook.steps"):
        deployer.deliver("push", push)
        deployer.work()
        deployer.report()
    assert NARROW_LOG not in caplog.text
    assert config_maps(k8s_api_client, namespace) == {"shop": "2", "cart": "1"}
    jobs = jobs_by_app(deployer, rewritten)
    assert {app: job.diff_base for app, job in jobs.items()} == {"shop": None, "cart": None}
    for app in ("shop", "cart"):
        assert deployer.github.states(REPO, rewritten, f"deploy/{app}") == ["success"]


def test_a_preview_narrowed_by_its_real_base_previews_only_the_touched_app(
    two_app_deployer: Deployer,
    k8s_api_client: k8s.ApiClient,
    namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    deployer = two_app_deployer
    base = deployer.commit_apps({"shop": cm("shop"), "cart": cm("cart")})
    deploy_all(deployer, base)
    deployer.git("checkout", "--quiet", "-b", "feature")
    head = deployer.commit_apps({"shop": cm("shop") + "---\n" + cm("extra")})
    deployer.git("checkout", "--quiet", "master")
    deployer.commit_apps({"cart": cm("cart", "3")})  # master moves on: not the PR's change
    payload = example("pull_request", where={"action": "opened"})
    payload["pull_request"]["head"]["sha"] = head
    payload["pull_request"]["base"]["sha"] = base
    with caplog.at_level(logging.WARNING, logger="webhook.steps"):
        deployer.deliver("pull_request", payload)
        deployer.work()
        deployer.report()
    assert NARROW_LOG not in caplog.text
    jobs = jobs_by_app(deployer, head)
    assert jobs["cart"].result == {"untouched": True}
    shop = deployer.github.last_status(REPO, head, "deploy-preview/shop")
    assert shop is not None and shop["description"] == "1 to create, 0 to change, 0 to delete"
    assert deployer.github.states(REPO, head, "deploy-preview/cart") == []
    [comment] = deployer.github.comments[(REPO.lower(), payload["number"])]
    assert "shop" in comment["body"] and "cart" not in comment["body"]
    assert config_maps(k8s_api_client, namespace) == {"shop": "1", "cart": "1"}  # as deployed
