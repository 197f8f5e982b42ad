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


@pytest.fixture
def gitops(tmp_path: Path, kubeconfig: Path, namespace: str) -> GitOps:
    from tests.gitops import make_gitops

    return make_gitops(tmp_path, kubeconfig, namespace)


@pytest.fixture
def dyn(k8s_api_client: client.ApiClient) -> DynamicClient:
    from kubernetes.dynamic import DynamicClient

    return DynamicClient(k8s_api_client)


@pytest.fixture
def no_stray_kubeconfig(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The engine gets its kubeconfig explicitly; the environment must not leak one in."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    yield
