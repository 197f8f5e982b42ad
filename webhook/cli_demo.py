"""``webhook-deployer demo``: the whole loop played locally (webhook.demo.story).

Owns: the command's options. Must not touch: anything the story does.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command()
@click.option(
    "--exit-after",
    type=float,
    metavar="SECONDS",
    help="End SECONDS after the story instead of waiting for Ctrl-C (non-interactive runs, CI).",
)
@click.option("--port", type=int, default=0, help="Port of the deployer (default: a free one).")
@click.option(
    "--dir",
    "workdir",
    type=click.Path(path_type=Path),
    help="Keep everything here (default: a temporary folder, removed at the end).",
)
@click.option("--keep", is_flag=True, help="Keep the temporary folder (logs, store, repository).")
@click.option(
    "--kubeconfig",
    type=click.Path(exists=True, path_type=Path),
    help="Deploy to this cluster instead of starting a local control plane.",
)
def demo(
    exit_after: float | None,
    port: int,
    workdir: Path | None,
    keep: bool,
    kubeconfig: Path | None,
) -> None:
    """Play the whole loop locally: a control plane, a sample repo, a GitHub stand-in.

    A pull request's preview, a merge, a failing change and a manual approval, in about a
    minute, without a GitHub account or a cluster. Exit 0 when every step ended as expected.
    """
    from webhook.demo.story import run

    sys.exit(
        run(workdir=workdir, port=port, kubeconfig=kubeconfig, exit_after=exit_after, keep=keep)
    )
