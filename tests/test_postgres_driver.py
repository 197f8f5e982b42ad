"""The PostgreSQL driver: installed with the package, and named in one line when it is not."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import requires
from pathlib import Path

from packaging.requirements import Requirement


def test_the_postgres_driver_is_a_default_dependency() -> None:
    required = [Requirement(r) for r in requires("webhook-deployer") or []]
    [driver] = [r for r in required if r.name == "psycopg"]
    assert driver.marker is None  # not behind an extra
    assert "binary" in driver.extras


def test_a_postgres_url_without_the_driver_is_one_line_at_start_up(tmp_path: Path) -> None:
    """``serve`` stops before starting any process, naming the driver and how to get it."""
    config = tmp_path / "deployer.yaml"
    config.write_text("apps: []\n")
    # The only way to uninstall a package for one process: an import of it fails.
    script = "import sys; sys.modules['psycopg'] = None; from webhook.cli import main; main()"
    proc = subprocess.run(
        [sys.executable, "-c", script, "serve", "--config", str(config)],
        env={
            "GITHUB_WEBHOOK_SECRET": "s",
            "DEPLOYER_DATABASE_URL": "postgresql://deployer@127.0.0.1:1/deployer",
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "error: DEPLOYER_DATABASE_URL is a PostgreSQL URL but the driver is not installed: "
        "pip install 'psycopg[binary]'"
    ]
