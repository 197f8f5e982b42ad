"""Fixtures for the receiver, queue and worker: a config, a store per test, an app, a client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests import profiles  # noqa: F401  (loads the hypothesis profile before any test module)
from tests.github.api_server import GitHubApiServer
from webhook.queue import SqlStore, sqlite_store
from webhook.settings import DeployerConfig, Environment
from webhook.web import create_app

SECRET = b"test secret: not a real one"
REPO = "Codertocat/Hello-World"  # the repository of GitHub's example payloads


@pytest.fixture
def config() -> DeployerConfig:
    """Three apps on the examples' repo and branch, one on another branch."""
    return DeployerConfig.model_validate(
        {
            "apps": [
                {
                    "name": "guestbook",
                    "repo": REPO,
                    "branch": "master",
                    "path": "apps/guestbook",
                    "namespace": "guestbook",
                },
                {
                    "name": "redis",
                    "repo": REPO,
                    "branch": "master",
                    "path": "apps/redis",
                    "namespace": "redis",
                },
                {
                    "name": "docs",
                    "repo": REPO,
                    "branch": "master",
                    "path": "docs",
                    "namespace": "docs",
                },
                {
                    "name": "staging",
                    "repo": REPO,
                    "branch": "staging",
                    "path": "apps/guestbook",
                    "namespace": "staging",
                },
            ]
        }
    )


@pytest.fixture
def env(tmp_path: Path) -> Environment:
    return Environment(
        webhook_secret=SECRET,
        database_url=f"sqlite:///{tmp_path / 'deployer.db'}",
        admin_token="admin-token-for-tests",
        cache_dir=tmp_path / "cache",
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    store = sqlite_store(tmp_path / "deployer.db")
    yield store
    store.close()


@pytest.fixture
def app(config: DeployerConfig, env: Environment, store: SqlStore) -> Flask:
    return create_app(config, env, store)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def github_api() -> Iterator[GitHubApiServer]:
    """The local GitHub API server; a request GitHub's description does not allow fails
    the test."""
    server = GitHubApiServer()
    yield server
    server.close()
    assert server.failures == []
