"""The worker command makes a GitHub client exactly when ``GitHubClient.from_env`` would,
without importing PyGithub when there are no credentials (``webhook.cli._github``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from webhook.cli import _github
from webhook.github import GitHubClient
from webhook.settings import Environment

CREDENTIALS = {
    "none": {},
    "token": {"github_token": "a-token"},
    "app": {"github_app_id": "1", "github_app_private_key": "not read before first use"},
    "app id only": {"github_app_id": "1"},
    "app key only": {"github_app_private_key": "not read before first use"},
    "token and app id": {"github_token": "a-token", "github_app_id": "1"},
}


@pytest.mark.parametrize("credentials", CREDENTIALS.values(), ids=CREDENTIALS.keys())
def test_a_client_exactly_when_from_env_makes_one(
    credentials: dict[str, str], tmp_path: Path
) -> None:
    env = Environment(webhook_secret=b"s", cache_dir=tmp_path, **credentials)  # type: ignore[arg-type]
    expected = GitHubClient.from_env(env)
    got = _github(env)
    assert (got is None) == (expected is None)
    assert got is None or isinstance(got, GitHubClient)


def test_without_credentials_pygithub_is_not_imported() -> None:
    code = (
        "import sys; from webhook.cli import _github; from webhook.settings import Environment; "
        "print(_github(Environment(webhook_secret=b's')), 'github' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["None", "False"]
