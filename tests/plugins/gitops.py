"""pytest fixtures for sync tests: a git repository synced to a fresh namespace.

The kubernetes client and tests/gitops.py (the engine) are imported when a test asks for a
fixture, not when pytest loads this plugin: quick runs load neither.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from kubernetes import client
    from kubernetes.dynamic import DynamicClient

    from tests.gitops import GitOps
    from tests.plugins.cluster import ControlPlane


@pytest.fixture
def gitops(tmp_path: Path, kubeconfig: Path, namespace: str) -> GitOps:
    from tests.gitops import make_gitops

    return make_gitops(tmp_path, kubeconfig, namespace)


@pytest.fixture
def dyn(k8s_api_client: client.ApiClient) -> DynamicClient:
    from kubernetes.dynamic import DynamicClient

    return DynamicClient(k8s_api_client)


@pytest.fixture
def gitops_with_nodes(
    tmp_path: Path, control_plane_with_nodes: ControlPlane, namespace_with_nodes: str
) -> GitOps:
    """``gitops`` on the control plane with nodes (controllers, scheduler, kwok)."""
    from tests.gitops import make_gitops

    return make_gitops(tmp_path, control_plane_with_nodes.kubeconfig, namespace_with_nodes)


@pytest.fixture
def dyn_with_nodes(control_plane_with_nodes: ControlPlane) -> Iterator[DynamicClient]:
    """``dyn`` for the control plane with nodes: an admin client, closed after the test."""
    from kubernetes import config
    from kubernetes.dynamic import DynamicClient

    api = config.new_client_from_config(config_file=str(control_plane_with_nodes.kubeconfig))
    yield DynamicClient(api)
    api.close()


@pytest.fixture
def no_stray_kubeconfig(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The engine gets its kubeconfig explicitly; the environment must not leak one in."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    yield
