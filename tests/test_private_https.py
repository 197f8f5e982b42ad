"""A private repository over HTTPS: real git fetching from ``git http-backend`` behind a TLS
server with basic auth (tests/git_https.py) that refuses anonymous fetches. The deployer's
engine fetches with ``GITHUB_TOKEN`` and with a GitHub App installation token issued by the
local GitHub API server; a wrong token is refused, and the error never holds the token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.git_https import GitHttpsServer, self_signed
from tests.github.api_server import GitHubApiServer
from tests.gitrepo import commit, git, init
from tests.test_github_app import APP_ID, INSTALLATION, app_env, key_pair
from webhook.engine import SyncEngine
from webhook.errors import Unavailable
from webhook.github import git_token_provider
from webhook.settings import AppConfig, DeployerConfig, Environment, RepoConfig
from webhook.sources import Mirrors, Remote

REPO = "Codertocat/Hello-World"
TOKEN = "ghp_private-repo-token-1234"


@pytest.fixture
def private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[GitHttpsServer, str]]:
    """(the server, the commit at the tip of ``master`` of its ``hello.git``)."""
    work = init(tmp_path / "work", branch="master")
    git(work, "commit", "--quiet", "--allow-empty", "-m", "root")
    sha = commit(work, {"apps/shop/app.yaml": "kind: ConfigMap\n", "docs/x.md": "x"})
    git(tmp_path, "clone", "--quiet", "--bare", str(work), str(tmp_path / "served" / "hello.git"))
    cert, key = self_signed(tmp_path)
    server = GitHttpsServer(tmp_path / "served", cert, key, accepts={TOKEN}.__contains__)
    monkeypatch.setenv("GIT_SSL_CAINFO", str(cert))
    yield server, sha
    server.close()


def engine_for(url: str, tmp_path: Path, env: Environment, **kwargs: object) -> SyncEngine:
    app = AppConfig(name="shop", repo=REPO, branch="master", path="apps/shop", namespace="shop")
    config = DeployerConfig(apps=(app,), repos={REPO: RepoConfig(clone_url=url)})
    return SyncEngine(config, env, cache_dir=tmp_path / "cache", **kwargs)  # type: ignore[arg-type]


def test_an_anonymous_fetch_is_refused(private: tuple[GitHttpsServer, str], tmp_path: Path) -> None:
    server, sha = private
    with pytest.raises(Unavailable, match="git fetch failed") as refused:
        Mirrors(tmp_path / "cache").ensure_commit(REPO, Remote(url=f"{server.url}/hello.git"), sha)
    assert "401" in str(refused.value) or "Authentication failed" in str(refused.value)
    assert {status for _, _, status, _ in server.seen} == {401}


def test_the_engine_fetches_with_github_token(
    private: tuple[GitHttpsServer, str], tmp_path: Path
) -> None:
    server, sha = private
    env = Environment(webhook_secret=b"-", github_token=TOKEN)
    engine = engine_for(f"{server.url}/hello.git", tmp_path, env)
    app = engine.config.app("shop")
    assert app is not None
    assert engine.head(app) == sha
    assert engine.touches(app, sha, "parent", None)  # fetched the commit, diffed it
    served = [(method, status, user) for method, _, status, user in server.seen]
    assert ("POST", 200, "x-access-token") in served  # the pack came with the token


def test_the_engine_fetches_with_an_app_installation_token(
    private: tuple[GitHttpsServer, str], tmp_path: Path
) -> None:
    server, sha = private
    private_key, public_key = key_pair()
    github = GitHubApiServer()
    try:
        github.install_app(APP_ID, public_key, {REPO: INSTALLATION})
        # The git host accepts exactly the installation tokens GitHub issued, as GitHub does.
        server.accepts = lambda token: any(t.token == token for t in github.issued)
        env = app_env(github, private_key)
        engine = engine_for(
            f"{server.url}/hello.git", tmp_path, env, token_for=git_token_provider(env)
        )
        app = engine.config.app("shop")
        assert app is not None
        assert engine.touches(app, sha, "parent", None)
        assert len(github.issued) == 1
        assert any(status == 200 and method == "POST" for method, _, status, _ in server.seen)
        assert github.failures == []
    finally:
        github.close()


def test_a_wrong_token_is_refused_with_an_error_that_does_not_hold_it(
    private: tuple[GitHttpsServer, str], tmp_path: Path
) -> None:
    server, sha = private
    wrong = "ghp_wrong-token-never-shown-5678"
    env = Environment(webhook_secret=b"-", github_token=wrong)
    engine = engine_for(f"{server.url}/hello.git", tmp_path, env)
    app = engine.config.app("shop")
    assert app is not None
    with pytest.raises(Unavailable) as refused:
        engine.touches(app, sha, "parent", None)
    message = str(refused.value)
    assert "git fetch failed" in message and f"{server.url}/hello.git" in message
    assert "Authentication failed" in message or "401" in message
    assert wrong not in message and wrong not in repr(refused.value)
    with pytest.raises(Unavailable) as head_refused:
        engine.head(app)
    assert wrong not in str(head_refused.value)
    assert {status for _, _, status, _ in server.seen} == {401}
