"""The ``webhook-deployer`` command: serve, web, worker, sync, diff, check-config, migrate.

Owns: the command group and which commands it has. Each command group lives in its own
module: cli_run.py (serve, web, worker), cli_local.py (the local break-glass ``sync`` and
``diff``), cli_admin.py (check-config, migrate), cli_demo.py (demo); cli_common.py holds
what they share. The commands that drive a running deployer over HTTP (status, history,
approve, rollback, resume) live in ``webhook.remote``.
"""

from __future__ import annotations

import click

from webhook.cli_admin import check_config, migrate
from webhook.cli_demo import demo
from webhook.cli_local import diff, sync
from webhook.cli_run import (
    _github as _github,  # re-exported
    serve,
    web,
    worker,
)
from webhook.remote import COMMANDS as _REMOTE


@click.group()
@click.version_option(package_name="webhook-deployer")
def main() -> None:
    """GitHub-webhook-driven Kubernetes deployer."""


for _command in (check_config, web, worker, serve, migrate, sync, diff, demo, *_REMOTE):
    main.add_command(_command)


if __name__ == "__main__":
    main()
