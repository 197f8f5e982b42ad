"""API tokens and the default without sign-in: named, hashed, scoped tokens; a revoked one
refused; the deprecated admin token; loopback only unless ``auth: none`` (a forwarded
header never makes a request local); the receiver and probes stay open."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.access import APPROVE_TOKEN, READ_TOKEN, TOKENS, Origin, manual_config, pending_plan
from tests.conftest import SECRET
from tests.github.deliveries import Delivery
from tests.github.examples import branch_push
from webhook.access import parse_tokens, token_hash
from webhook.queue import SqlStore
from webhook.queue.audit import ApprovalLog
from webhook.settings import ConfigError, DeployerConfig, Environment
from webhook.web import create_app

REMOTE = "198.51.100.7"


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    return Origin(tmp_path)


def _env(tmp_path: Path, **extra: object) -> Environment:
    values: dict[str, object] = {
        "webhook_secret": SECRET,
        "cache_dir": tmp_path / "cache",
        "api_tokens": TOKENS,
    }
    return Environment(**{**values, **extra})  # type: ignore[arg-type]


def _client(app: Flask, remote: str = REMOTE) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = remote
    return client


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_tokens_are_read_from_the_environment_hashed_and_checked() -> None:
    digest = token_hash("s3cret")
    env = Environment.from_environ(
        {
            "GITHUB_WEBHOOK_SECRET": "x",
            "DEPLOYER_API_TOKENS": f"ci:read:{digest}, release:approve:{digest.upper()}",
        }
    )
    assert [(t.name, t.scope) for t in env.api_tokens] == [("ci", "read"), ("release", "approve")]
    assert "s3cret" not in repr(env) and digest not in repr(env)
    tokens, errors = parse_tokens("ci:write:abc other ci:read:" + digest + " ci:read:" + digest)
    assert [t.name for t in tokens] == ["ci"] and len(errors) == 3
    assert "abc" not in errors[0]  # an entry may be a pasted secret: never quoted back
    with pytest.raises(ConfigError, match="DEPLOYER_API_TOKENS"):
        Environment.from_environ({"GITHUB_WEBHOOK_SECRET": "x", "DEPLOYER_API_TOKENS": "s3cret"})


def test_without_sign_in_the_page_and_api_answer_only_on_loopback(
    tmp_path: Path, store: SqlStore, origin: Origin
) -> None:
    app = create_app(manual_config(origin), _env(tmp_path), store)
    remote = _client(app)
    spoofed = {
        "X-Forwarded-For": "127.0.0.1",
        "X-Real-IP": "127.0.0.1",
        "Forwarded": "for=127.0.0.1",
    }
    for path in ("/", "/api/apps", "/metrics", "/jobs/1"):
        assert remote.get(path).status_code == 403, path
        assert remote.get(path, headers=spoofed).status_code == 403, path
    local = _client(app, "127.0.0.1")
    assert local.get("/").status_code == 200 and local.get("/api/apps").status_code == 200
    assert _client(app, "::1").get("/api/apps").status_code == 200
    # Loopback reads; approving still needs a token.
    assert local.post("/api/apps/guestbook/sync").status_code == 401
    # Open everywhere: the signature-checked receiver and the probes.
    assert remote.get("/healthz").status_code == 200 and remote.get("/readyz").status_code == 200
    push = Delivery("push", branch_push(), SECRET)
    assert remote.post("/webhooks/github", data=push.body, headers=push.headers()).status_code in (
        200,
        202,
    )


def test_auth_none_opens_reading_on_purpose_but_not_approving(
    tmp_path: Path, store: SqlStore, origin: Origin
) -> None:
    config = manual_config(origin).model_copy(update={"auth": "none"})
    remote = _client(create_app(config, _env(tmp_path), store))
    assert remote.get("/api/apps").status_code == 200 and remote.get("/").status_code == 200
    pending_plan(store, origin.head)
    # An open page is no approval: a POST without a token is refused.
    assert remote.post("/api/apps/guestbook/sync").status_code == 401
    assert ApprovalLog(store).recent() == []


def test_a_read_token_reads_an_approve_token_approves_and_is_recorded(
    tmp_path: Path, store: SqlStore, origin: Origin
) -> None:
    app = create_app(manual_config(origin), _env(tmp_path), store)
    remote = _client(app)
    plan = pending_plan(store, origin.head)
    assert remote.get("/api/apps", headers=_bearer(READ_TOKEN)).status_code == 200
    denied = remote.post("/api/apps/guestbook/sync", headers=_bearer(READ_TOKEN))
    assert denied.status_code == 403 and "approve" in denied.get_json()["error"]
    approved = remote.post("/api/apps/guestbook/sync", headers=_bearer(APPROVE_TOKEN))
    assert approved.status_code == 202, approved.get_json()
    [record] = ApprovalLog(store).for_job(plan)
    assert (record.who, record.how, record.commit) == ("token:release-bot", "token", origin.head)
    job = remote.get(f"/api/jobs/{record.job_id}", headers=_bearer(READ_TOKEN)).get_json()
    assert job["approvals"][0]["who"] == "token:release-bot"


def test_a_revoked_token_is_refused(tmp_path: Path, store: SqlStore, origin: Origin) -> None:
    before = _client(create_app(manual_config(origin), _env(tmp_path), store))
    assert before.get("/api/apps", headers=_bearer(READ_TOKEN)).status_code == 200
    # Revoking is removing the entry: the next start knows the token no more.
    kept = tuple(t for t in TOKENS if t.name != "dashboards")
    after = _client(create_app(manual_config(origin), _env(tmp_path, api_tokens=kept), store))
    refused = after.get("/api/apps", headers=_bearer(READ_TOKEN))
    assert refused.status_code == 401 and "revoked" in refused.get_json()["error"]
    # A bad token is refused even on loopback: it never falls back to another principal.
    local = _client(after.application, "127.0.0.1")
    assert local.get("/api/apps", headers=_bearer(READ_TOKEN)).status_code == 401


def test_the_deprecated_admin_token_still_approves_and_warns(
    tmp_path: Path, store: SqlStore, origin: Origin, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="webhook.web.app"):
        app = create_app(
            manual_config(origin), _env(tmp_path, api_tokens=(), admin_token="old-admin"), store
        )
    assert any("DEPLOYER_ADMIN_TOKEN is deprecated" in r.getMessage() for r in caplog.records)
    answer = _client(app).post("/api/apps/guestbook/sync", headers=_bearer("old-admin"))
    assert answer.status_code == 202
    assert answer.get_json()["approval"]["who"] == "token:admin"


def test_auth_github_without_an_oauth_client_is_refused_at_start(
    tmp_path: Path, store: SqlStore, config: DeployerConfig
) -> None:
    with pytest.raises(ConfigError, match="GITHUB_OAUTH_CLIENT_ID"):
        create_app(config.model_copy(update={"auth": "github"}), _env(tmp_path), store)


def test_sign_in_settings_are_checked_together_and_ghes_signs_in_on_its_host() -> None:
    base = {"GITHUB_WEBHOOK_SECRET": "x", "GITHUB_OAUTH_CLIENT_ID": "Iv1.abc"}
    with pytest.raises(ConfigError) as refused:
        Environment.from_environ({**base, "DEPLOYER_SESSION_SECRET": "short"})
    assert any("GITHUB_OAUTH_CLIENT_SECRET" in line for line in refused.value.errors)
    assert any("DEPLOYER_SESSION_SECRET" in line for line in refused.value.errors)
    env = Environment.from_environ(
        {
            **base,
            "GITHUB_OAUTH_CLIENT_SECRET": "oauth-secret-value",
            "DEPLOYER_SESSION_SECRET": "s" * 32,
            "GITHUB_API_URL": "https://ghe.example.com/api/v3",
        }
    )
    assert env.github_web_url == "https://ghe.example.com"
    assert "oauth-secret-value" not in repr(env) and "s" * 32 not in repr(env)
    assert Environment(webhook_secret=b"x").github_web_url == "https://github.com"
