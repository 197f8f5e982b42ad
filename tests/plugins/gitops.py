"""pytest fixtures for sync tests: a git repository synced to a fresh namespace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.dynamic import DynamicClient

from tests.gitops import GitOps, make_gitops


@pytest.fixture
def gitops(tmp_path: Path, kubeconfig: Path, namespace: str) -> GitOps:
    return make_gitops(tmp_path, kubeconfig, namespace)


@pytest.fixture
def dyn(k8s_api_client: client.ApiClient) -> DynamicClient:
    return DynamicClient(k8s_api_client)


@pytest.fixture
def no_stray_kubeconfig(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The engine gets its kubeconfig explicitly; the environment must not leak one in."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    yield
