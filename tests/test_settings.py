"""Config and environment validation: every error names the file, the app and the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from webhook.cli import main
from webhook.settings import ConfigError, Environment, config_path, load_config

GOOD = """
apps:
  - name: guestbook
    repo: acme/gitops
    path: apps/guestbook
    namespace: guestbook
    allowed_namespaces: [guestbook]
repos:
  acme/gitops:
    clone_url: file:///srv/git/gitops.git
"""

BAD = """
apps:
  - name: Guest_Book
    repo: acme
    path: ../outside
    namespace: guestbook
    colour: blue
  - name: redis
    repo: acme/gitops
    path: ""
    namespace: redis
    allowed_namespaces: [other]
"""


def test_a_good_config_loads_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "deployer.yaml"
    path.write_text(GOOD)
    config = load_config(path)
    app = config.apps[0]
    assert (app.branch, app.auto_sync, app.prune, app.cluster) == ("main", True, False, None)
    assert config.clone_url("acme/gitops") == "file:///srv/git/gitops.git"
    assert config.clone_url("acme/other") == "https://github.com/acme/other.git"


def test_every_error_is_listed_with_file_app_and_key(tmp_path: Path) -> None:
    path = tmp_path / "deployer.yaml"
    path.write_text(BAD)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    errors = caught.value.errors
    expected = [
        "app 'Guest_Book', key name: must be a DNS-1123 label",
        "app 'Guest_Book', key repo: must be 'owner/name'",
        "app 'Guest_Book', key path: must be a relative folder",
        "app 'Guest_Book', key colour: Extra inputs are not permitted",
        "app 'redis', key path: must be a relative folder",
    ]
    for fragment in expected:
        assert any(fragment in line and line.startswith(str(path)) for line in errors), (
            fragment,
            errors,
        )


def test_duplicate_app_names_and_bad_yaml_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "deployer.yaml"
    app = "  - {name: a, repo: o/r, path: p, namespace: n}\n"
    path.write_text("apps:\n" + app + app)
    with pytest.raises(ConfigError, match="repeated: a"):
        load_config(path)
    path.write_text("apps: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_config_path_precedence() -> None:
    assert config_path("x.yaml", {"WEBHOOK_DEPLOYER_CONFIG": "y.yaml"}) == Path("x.yaml")
    assert config_path(None, {"WEBHOOK_DEPLOYER_CONFIG": "y.yaml"}) == Path("y.yaml")
    assert config_path(None, {}) == Path("deployer.yaml")


def test_the_webhook_secret_is_required_and_never_shown() -> None:
    with pytest.raises(ConfigError, match="GITHUB_WEBHOOK_SECRET"):
        Environment.from_environ({})
    env = Environment.from_environ({"GITHUB_WEBHOOK_SECRET": "s3cr3t", "GITHUB_TOKEN": "ghp_x"})
    assert "s3cr3t" not in repr(env) and "ghp_x" not in repr(env)
    assert env.database_url == "sqlite:///deployer.db"


def test_the_previous_webhook_secret_is_optional_and_never_shown() -> None:
    alone = Environment.from_environ({"GITHUB_WEBHOOK_SECRET": "new"})
    assert alone.webhook_secrets == (("current", b"new"),)
    both = Environment.from_environ(
        {"GITHUB_WEBHOOK_SECRET": "new", "GITHUB_WEBHOOK_SECRET_PREVIOUS": "old-s3cr3t"}
    )
    assert both.webhook_secrets == (("current", b"new"), ("previous", b"old-s3cr3t"))
    assert "old-s3cr3t" not in repr(both)


def test_check_config_exits_non_zero_listing_every_error(tmp_path: Path) -> None:
    path = tmp_path / "deployer.yaml"
    path.write_text(BAD)
    result = CliRunner().invoke(main, ["check-config", "--config", str(path)])
    assert result.exit_code == 2
    assert result.output.count("error: ") >= 5
    path.write_text(GOOD)
    result = CliRunner().invoke(main, ["check-config", "--config", str(path)])
    assert result.exit_code == 0 and "1 app(s)" in result.output


def test_serve_refuses_to_start_without_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "deployer.yaml"
    path.write_text(GOOD)
    monkeypatch.delenv("GITHUB_WEBHOOK_SECRET", raising=False)
    result = CliRunner().invoke(main, ["serve", "--config", str(path)])
    assert result.exit_code == 2 and "GITHUB_WEBHOOK_SECRET" in result.output


def test_the_example_config_in_the_repo_is_valid() -> None:
    example = Path(__file__).resolve().parents[1] / "deployer.example.yaml"
    result = CliRunner().invoke(main, ["check-config", "--config", str(example)])
    assert result.exit_code == 0, result.output


def test_every_deployer_variable_is_read_by_environment(tmp_path: Path) -> None:
    env = Environment.from_environ(
        {
            "GITHUB_WEBHOOK_SECRET": "s",
            "DEPLOYER_BIND": "0.0.0.0:9000",
            "DEPLOYER_WORKER_CONCURRENCY": "5",
            "DEPLOYER_WORKER_MAX_CONCURRENCY": "24",
            "DEPLOYER_LEASE_SECONDS": "12.5",
            "DEPLOYER_CACHE_DIR": str(tmp_path),
            "DEPLOYER_LOG_LEVEL": "debug",
            "DEPLOYER_REQUEST_TIMEOUT": "7",
        }
    )
    assert (env.bind, env.worker_concurrency, env.lease_seconds) == ("0.0.0.0:9000", 5, 12.5)
    assert (env.cache_dir, env.log_level, env.request_timeout) == (tmp_path, "DEBUG", 7.0)
    assert env.worker_max_concurrency == 24
    xdg = Environment.from_environ({"GITHUB_WEBHOOK_SECRET": "s", "XDG_CACHE_HOME": "/x"})
    assert xdg.cache_dir == Path("/x/webhook-deployer")


def test_bad_deployer_variables_are_all_listed() -> None:
    with pytest.raises(ConfigError) as caught:
        Environment.from_environ(
            {
                "GITHUB_WEBHOOK_SECRET": "s",
                "DEPLOYER_WORKER_CONCURRENCY": "many",
                "DEPLOYER_WORKER_MAX_CONCURRENCY": "0",
                "DEPLOYER_LEASE_SECONDS": "-1",
                "DEPLOYER_LOG_LEVEL": "LOUD",
                "DEPLOYER_REQUEST_TIMEOUT": "nan",
            }
        )
    text = "\n".join(caught.value.errors)
    for name in (
        "WORKER_CONCURRENCY",
        "WORKER_MAX_CONCURRENCY",
        "LEASE_SECONDS",
        "LOG_LEVEL",
        "REQUEST_TIMEOUT",
    ):
        assert f"DEPLOYER_{name}" in text


def test_importing_the_package_loads_no_flask() -> None:
    code = "import sys, webhook, webhook.worker; print('flask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    code = "import webhook; print(webhook.create_app.__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "webhook.web.app"


def test_the_web_and_supervisor_processes_load_no_cluster_github_or_cel_client() -> None:
    """What ``serve``'s web side and its supervisor import: each heavy client it does not
    use cost resident memory in every process (#13). authlib only with GitHub sign-in;
    requests only for the remote commands."""
    code = (
        "import sys, webhook.cli, webhook.web.app, webhook.web.server, webhook.supervise; "
        "print(sorted(m for m in ('kubernetes', 'github', 'cel', 'prompt_toolkit', 'authlib', "
        "'requests') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
