"""Health waits after apply: a rollout that never finishes, and one that does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.gitops import GitOps, deployment, dump, make_gitops, service

pytestmark = pytest.mark.usefixtures("no_stray_kubeconfig")


# -- health --------------------------------------------------------------------------------


def test_a_deployment_that_never_becomes_available_times_out_naming_it(gitops: GitOps) -> None:
    sha = gitops.commit({"apps/shop/web.yaml": dump(deployment("web"))})
    result = gitops.sync(sha, health_timeout=2)
    assert result.error_kind == "health"
    assert (result.error or "").startswith("not healthy after 2s: Deployment web: ")
    assert result.created == (f"Deployment {gitops.namespace}/web",)


def test_a_deployment_becomes_healthy_on_a_cluster_with_nodes(
    tmp_path: Path, control_plane_with_nodes: Any, namespace_with_nodes: str
) -> None:
    ops = make_gitops(tmp_path, control_plane_with_nodes.kubeconfig, namespace_with_nodes)
    sha = ops.commit({"apps/shop/web.yaml": dump(deployment("web", replicas=2), service("web"))})
    result = ops.sync(sha, health_timeout=120)
    assert result.ok, result.error
    health = {h.object: h for h in result.health}
    web = health[f"Deployment {namespace_with_nodes}/web"]
    assert (web.status, web.message) == ("Current", "Deployment web: 2/2 available")
