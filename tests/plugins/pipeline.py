"""pytest fixture for end-to-end tests: the ``deployer`` pipeline of tests/pipeline.py.

Its imports (the engine, the reporter, the local GitHub API server) are made when a test
asks for the fixture, not when pytest loads this plugin: a run of a few quick test files
loads none of them (see TESTING.md, Running it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.pipeline import Deployer


@pytest.fixture
def deployer(tmp_path: Path, kubeconfig: Path, namespace: str) -> Iterator[Deployer]:
    yield from build_deployer(tmp_path, kubeconfig, namespace, ("shop",))


@pytest.fixture
def two_app_deployer(tmp_path: Path, kubeconfig: Path, namespace: str) -> Iterator[Deployer]:
    """Apps ``shop`` (``apps/shop``) and ``cart`` (``apps/cart``) in one namespace."""
    yield from build_deployer(tmp_path, kubeconfig, namespace, ("shop", "cart"))


def build_deployer(
    tmp_path: Path, kubeconfig: Path, namespace: str, names: tuple[str, ...]
) -> Iterator[Deployer]:
    from tests.conftest import SECRET
    from tests.github.api_server import GitHubApiServer, client_for
    from tests.pipeline import REPO, Clock, Deployer
    from webhook.engine import SyncEngine
    from webhook.queue import sqlite_store
    from webhook.reporter import Reporter
    from webhook.settings import AppConfig, DeployerConfig, Environment, RepoConfig
    from webhook.steps import worker_step
    from webhook.web import create_app
    from webhook.worker import Worker

    origin = tmp_path / "origin"
    origin.mkdir()
    github = GitHubApiServer()
    apps = tuple(
        AppConfig(name=name, repo=REPO, branch="master", path=f"apps/{name}", namespace=namespace)
        for name in names
    )
    config = DeployerConfig(
        apps=apps,
        repos={REPO: RepoConfig(clone_url=f"file://{origin}")},
        public_url="https://deployer.example",
    )
    env = Environment(
        webhook_secret=SECRET,
        database_url=f"sqlite:///{tmp_path / 'deployer.db'}",
        github_token="ghs_e2e-token",
        github_api_url=github.url,
    )
    store = sqlite_store(tmp_path / "deployer.db")
    clock = Clock(store.clock())
    store.clock = clock  # type: ignore[method-assign]
    engine = SyncEngine(config, env, cache_dir=tmp_path / "cache", kubeconfig=kubeconfig)
    worker = Worker(store, worker_step(engine, store), lease_seconds=600)
    reporter = Reporter(store, config, client_for(github), clock=clock)
    web = create_app(config, env, store).test_client()
    deployer = Deployer(origin, web, store, worker, reporter, github, clock)
    deployer.git("init", "--quiet", "--initial-branch=master")
    yield deployer
    github.close()
    store.close()
    assert github.failures == []
    assert all("ghs_e2e-token" not in repr(call) for call in github.calls)
