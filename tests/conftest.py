"""Fixtures for the receiver, queue and worker: a config, a store per test, an app, a client.

The deployer's modules, Flask, the local GitHub API server (openapi-core) and hypothesis
are imported when a test needs them, not here: a run of a few test files loads only what
those files use (hypothesis alone was about 40 % of a small run's import time). A module
that uses hypothesis imports ``tests.profiles`` (for ``examples``/``rounds``), which loads
the suite's profile.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

    from tests.github.api_server import GitHubApiServer
    from webhook.queue import SqlStore
    from webhook.settings import DeployerConfig, Environment

SECRET = b"test secret: not a real one"
REPO = "Codertocat/Hello-World"  # the repository of GitHub's example payloads


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Load the suite's profiles now when something reads them before any test module is
    imported: ``--hypothesis-profile=NAME`` (hypothesis' plugin loads it right after this
    hook, so ``ci`` and ``quick`` must exist by then), and the header of a ``-v`` run or of
    a ``HYPOTHESIS_PROFILE`` run (``scripts/test``), which names the loaded profile."""
    wanted = config.getoption("hypothesis_profile", None) or os.environ.get("HYPOTHESIS_PROFILE")
    if wanted or config.option.verbose >= 1:
        from tests import profiles  # noqa: F401
    # The deployer under test is nobody's in particular: on a CI runner that is itself a
    # pod, the deployer would otherwise take the runner's namespace file for its own and
    # refuse the tests' apps there. Tests of that protection name their identity.
    os.environ["DEPLOYER_NAMESPACE"] = "webhook-deployer-under-test"


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """hypothesis' pytest plugin imports all of hypothesis in its terminal summary, at the
    end of every session, used or not: 2.5 s of a small run's 3.5 s of CPU here. When no
    collected module imported hypothesis, no test of this session can use it: unregister
    the plugin, whose other hooks do nothing for such tests."""
    if "hypothesis" not in sys.modules:
        plugin = session.config.pluginmanager.get_plugin("hypothesispytest")
        if plugin is not None:
            session.config.pluginmanager.unregister(plugin)


@pytest.fixture
def config() -> DeployerConfig:
    """Three apps on the examples' repo and branch, one on another branch."""
    from webhook.settings import DeployerConfig

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
    from webhook.settings import Environment

    return Environment(
        webhook_secret=SECRET,
        database_url=f"sqlite:///{tmp_path / 'deployer.db'}",
        admin_token="admin-token-for-tests",
        cache_dir=tmp_path / "cache",
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    from webhook.queue import sqlite_store

    store = sqlite_store(tmp_path / "deployer.db")
    yield store
    store.close()


@pytest.fixture
def app(config: DeployerConfig, env: Environment, store: SqlStore) -> Flask:
    from webhook.web import create_app

    return create_app(config, env, store)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def github_api() -> Iterator[GitHubApiServer]:
    """The local GitHub API server; a request GitHub's description does not allow fails
    the test."""
    from tests.github.api_server import GitHubApiServer

    server = GitHubApiServer()
    yield server
    server.close()
    assert server.failures == []
