"""GitHub App authentication end to end, against the local OpenAPI-validated GitHub server:
the JWT the server verifies with the App's public key, the installation token it issues,
which credential each call used, renewal before expiry, and no secret in logs or errors."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.github.api_server import GitHubApiServer
from webhook.engine import SyncEngine
from webhook.github import (
    TOKEN_REFRESH_MARGIN,
    GitHubClient,
    GitHubRejected,
    Unavailable,
    git_token_provider,
)
from webhook.settings import DeployerConfig, Environment

REPO = "Codertocat/Hello-World"
OTHER = "octo-org/other-repo"
SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
APP_ID = "123456"
INSTALLATION = 42
JWT_SHAPE = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")


def key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,  # GitHub hands out PKCS#1 PEMs
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.fixture(scope="module")
def app_key() -> tuple[str, str]:
    """The App's (private PEM, public PEM); the server only ever gets the public one."""
    return key_pair()


class Clock:
    """Shared by the server (token expiry) and the client (renewal); starts at the real time."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def github_api(app_key: tuple[str, str], clock: Clock) -> Iterator[GitHubApiServer]:
    server = GitHubApiServer(clock=clock)
    server.install_app(APP_ID, app_key[1], {REPO: INSTALLATION, OTHER: INSTALLATION + 1})
    yield server
    server.close()
    assert server.failures == []


def app_env(
    server: GitHubApiServer, private_key: str, *, installation: int | None = INSTALLATION
) -> Environment:
    environ = {
        "GITHUB_WEBHOOK_SECRET": "unused",
        "GITHUB_API_URL": server.url,
        "GITHUB_APP_ID": APP_ID,
        "GITHUB_APP_PRIVATE_KEY": private_key,
    }
    if installation is not None:
        environ["GITHUB_APP_INSTALLATION_ID"] = str(installation)
    return Environment.from_environ(environ)


def _client(env: Environment, clock: Clock) -> GitHubClient:
    client = GitHubClient.from_env(env, seconds_between_writes=0, clock=clock)
    assert client is not None
    return client


def _status(client: GitHubClient, repo: str = REPO, context: str = "deploy/a") -> None:
    client.create_status(repo, SHA, state="success", context=context, description="ok")


def _seen(server: GitHubApiServer) -> list[tuple[str, str, str, int]]:
    return [(c.method, c.path, c.credential, c.status) for c in server.calls]


def test_statuses_are_posted_with_the_installation_token_not_the_jwt(
    github_api: GitHubApiServer, app_key: tuple[str, str], clock: Clock
) -> None:
    client = _client(app_env(github_api, app_key[0]), clock)
    _status(client, context="deploy/a")
    _status(client, context="deploy/b")
    assert _seen(github_api) == [
        ("POST", f"/app/installations/{INSTALLATION}/access_tokens", "jwt", 201),
        ("POST", f"/repos/{REPO}/statuses/{SHA}", "installation-token #1", 201),
        ("POST", f"/repos/{REPO}/statuses/{SHA}", "installation-token #1", 201),
    ]
    assert github_api.states(REPO, SHA, "deploy/b") == ["success"]
    [issued] = github_api.issued
    assert issued.installation_id == INSTALLATION and issued.token.startswith("ghs_")


def test_a_jwt_signed_by_another_key_is_refused(github_api: GitHubApiServer, clock: Clock) -> None:
    client = _client(app_env(github_api, key_pair()[0]), clock)
    with pytest.raises(Unavailable, match="401"):
        _status(client)
    assert _seen(github_api) == [
        ("POST", f"/app/installations/{INSTALLATION}/access_tokens", "bad-jwt", 401)
    ]
    assert github_api.issued == [] and github_api.statuses == {}
    with pytest.raises(Unavailable, match="401"):
        client.git_token_for(REPO)


def test_without_an_installation_id_each_repos_installation_is_looked_up_once(
    github_api: GitHubApiServer, app_key: tuple[str, str], clock: Clock
) -> None:
    client = _client(app_env(github_api, app_key[0], installation=None), clock)
    _status(client, REPO)
    _status(client, REPO, context="deploy/b")
    _status(client, OTHER)
    assert _seen(github_api) == [
        ("GET", f"/repos/{REPO}/installation", "jwt", 200),
        ("POST", f"/app/installations/{INSTALLATION}/access_tokens", "jwt", 201),
        ("POST", f"/repos/{REPO}/statuses/{SHA}", "installation-token #1", 201),
        ("POST", f"/repos/{REPO}/statuses/{SHA}", "installation-token #1", 201),
        ("GET", f"/repos/{OTHER}/installation", "jwt", 200),
        ("POST", f"/app/installations/{INSTALLATION + 1}/access_tokens", "jwt", 201),
        ("POST", f"/repos/{OTHER}/statuses/{SHA}", "installation-token #2", 201),
    ]
    assert client.git_token_for(OTHER) == github_api.issued[1].token
    with pytest.raises(GitHubRejected) as caught:
        _status(client, "someone/not-installed")
    assert caught.value.status == 404


def test_the_git_token_is_the_installation_token_renewed_shortly_before_expiry(
    github_api: GitHubApiServer, app_key: tuple[str, str], clock: Clock, tmp_path: Path
) -> None:
    env = app_env(github_api, app_key[0])
    client = _client(env, clock)
    first = client.git_token_for(REPO)
    assert first == github_api.issued[0].token
    _status(client)
    assert client.git_token_for(REPO) == first, "cached: one token for git and statuses"
    expires_at = github_api.issued[0].expires_at
    clock.now = expires_at - TOKEN_REFRESH_MARGIN - 1
    assert client.git_token_for(REPO) == first
    clock.now = expires_at - TOKEN_REFRESH_MARGIN + 1
    second = client.git_token_for(REPO)
    assert second == github_api.issued[1].token != first
    clock.now = expires_at + 1
    _status(client, context="deploy/after-expiry")
    assert github_api.calls[-1].credential == "installation-token #2"
    assert len(github_api.issued) == 2
    # The server does refuse the expired first token: renewal is needed, not cosmetic.
    refused = requests.post(
        f"{github_api.url}/repos/{REPO}/statuses/{SHA}",
        json={"state": "success", "context": "deploy/x"},
        headers={"Authorization": f"token {first}"},
        timeout=5,
    )
    assert refused.status_code == 401
    assert github_api.calls[-1].credential == "expired-token #1"

    # What the CLI hands SyncEngine: the same installation tokens for git.
    provider = git_token_provider(env)
    assert provider is not None
    engine = SyncEngine(DeployerConfig(), env, cache_dir=tmp_path, token_for=provider)
    assert engine.token_for(REPO) == github_api.issued[2].token


def test_without_app_credentials_git_keeps_github_token(github_api: GitHubApiServer) -> None:
    env = Environment(webhook_secret=b"s", github_token="ghp_x", github_api_url=github_api.url)
    assert git_token_provider(env) is None
    client = GitHubClient.from_env(env)
    assert client is not None and client.git_token_for(REPO) == "ghp_x"


def test_no_token_key_or_jwt_reaches_logs_or_error_messages(
    github_api: GitHubApiServer,
    app_key: tuple[str, str],
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="github")  # PyGithub's own default is INFO
    errors: list[str] = []
    client = _client(app_env(github_api, app_key[0], installation=None), clock)
    github_api.fail_next(status=500, method="POST", after_apply=True)
    with pytest.raises(Unavailable) as unavailable:
        client.git_token_for(REPO)  # the token was issued, its answer lost
    errors.append(str(unavailable.value))
    _status(client)
    github_api.fail_next(status=502)
    with pytest.raises(Unavailable) as failed:
        _status(client)
    errors.append(str(failed.value))
    clock.now = github_api.issued[-1].expires_at + 1
    client.upsert_comment(REPO, 1, "<!-- m -->", "plan")
    bad = _client(app_env(github_api, key_pair()[0]), clock)
    with pytest.raises(Unavailable) as refused:
        _status(bad)
    errors.append(str(refused.value))

    assert len(github_api.issued) == 3
    assert "github.Requester" in {r.name for r in caplog.records}, "DEBUG logging was on"
    private_body = "".join(app_key[0].splitlines()[1:-1])
    for text in [caplog.text, *errors, *(repr(c) for c in github_api.calls)]:
        flat = text.replace("\n", "")
        assert not any(issued.token in text for issued in github_api.issued)
        assert not JWT_SHAPE.search(text)
        assert private_body[:64] not in flat and "PRIVATE KEY" not in text
