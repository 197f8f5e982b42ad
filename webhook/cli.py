"""The ``webhook-deployer`` command: serve, web, worker, sync, diff, check-config, migrate.

The commands that drive a running deployer over HTTP (status, history, approve, rollback,
resume) live in ``webhook.remote``; this module runs the deployer and the local break-glass
``sync`` and ``diff``.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

import click

from webhook import memory
from webhook.metrics_dir import use_shared_dir
from webhook.progress import show as show_progress
from webhook.queue import SqlStore
from webhook.settings import (
    AppConfig,
    ConfigError,
    DeployerConfig,
    Environment,
    config_path,
    load_config,
)
from webhook.text import one_line

if TYPE_CHECKING:
    from webhook.github import GitHubClient

log = logging.getLogger("webhook.cli")
CONFIG_OPTION = click.option(
    "--config",
    "config_file",
    metavar="FILE",
    help="Config file (default: $WEBHOOK_DEPLOYER_CONFIG, else ./deployer.yaml).",
)


def _fail(errors: list[str]) -> NoReturn:
    for line in errors:  # repository and tool text: no escape sequence reaches the terminal
        click.echo(f"error: {one_line(line)}", err=True)
    sys.exit(2)


def _load(
    config_file: str | None, *, need_secret: bool = True
) -> tuple[DeployerConfig, Environment]:
    errors: list[str] = []
    config = env = None
    try:
        config = load_config(config_path(config_file))
    except ConfigError as exc:
        errors.extend(exc.errors)
    environ = dict(os.environ)
    if not need_secret and not environ.get("GITHUB_WEBHOOK_SECRET"):
        environ["GITHUB_WEBHOOK_SECRET"] = "unused-by-this-command"
    try:
        env = Environment.from_environ(environ)
    except ConfigError as exc:
        errors.extend(exc.errors)
    if errors or config is None or env is None:
        _fail(errors)
    return config, env


def _open_store(env: Environment) -> SqlStore:
    """The store, migrated to this release's schema; one clear line and exit 2 when it
    cannot be (a schema newer than this release, an unknown URL)."""
    from webhook.queue import SchemaTooNew, open_store

    try:
        return open_store(env.database_url)
    except (SchemaTooNew, ValueError) as exc:
        _fail([str(exc)])


@click.group()
@click.version_option(package_name="webhook-deployer")
def main() -> None:
    """GitHub-webhook-driven Kubernetes deployer."""


@main.command("check-config")
@CONFIG_OPTION
def check_config(config_file: str | None) -> None:
    """Validate the config file and environment; list every error."""
    config, _ = _load(config_file, need_secret=False)
    missing = [t.url_env for t in config.notifications if not os.environ.get(t.url_env)]
    if missing:
        _fail([f"notifications: environment variable(s) not set: {', '.join(missing)}"])
    click.echo(f"{config_path(config_file)}: ok, {len(config.apps)} app(s)")


@main.command()
@CONFIG_OPTION
@click.option("--bind", help="host:port (default: $DEPLOYER_BIND, else 127.0.0.1:8080)")
@click.option("--workers", default=2, show_default=True, help="gunicorn processes")
@click.option("--threads", default=4, show_default=True, help="threads per process")
@click.option(
    "--single-process",
    is_flag=True,
    help="One worker in this process, no gunicorn master: for a supervisor that restarts "
    "this process when it exits (serve uses it). Ignores --workers.",
)
def web(
    config_file: str | None, bind: str | None, workers: int, threads: int, single_process: bool
) -> None:
    """Run only the webhook receiver and API (gunicorn)."""
    use_shared_dir()  # gunicorn's processes answer /metrics together
    from webhook.web.server import serve as serve_web

    config, env = _load(config_file)
    env.configure_logging()
    _open_store(env).close()  # migrate once, here, before the gunicorn processes open it
    serve_web(
        config,
        env,
        bind=bind or env.bind,
        workers=workers,
        threads=threads,
        single_process=single_process,
    )


@main.command()
@CONFIG_OPTION
@click.option(
    "--concurrency", type=int, help="jobs at once (default: $DEPLOYER_WORKER_CONCURRENCY)"
)
@click.option("--lease-seconds", type=float, help="job lease (default: $DEPLOYER_LEASE_SECONDS)")
@click.option(
    "--health-bind",
    metavar="HOST:PORT",
    help="serve /healthz, /readyz and /metrics here (default: $DEPLOYER_WORKER_HEALTH_BIND; off)",
)
@click.option(
    "--stall-seconds",
    type=float,
    default=900.0,
    show_default=True,
    help="/healthz fails once a sync loop made no progress for this long",
)
def worker(
    config_file: str | None,
    concurrency: int | None,
    lease_seconds: float | None,
    health_bind: str | None,
    stall_seconds: float,
) -> None:
    """Run only the sync workers."""
    config, env = _load(config_file)
    env.configure_logging()
    concurrency = concurrency or env.worker_concurrency
    lease_seconds = lease_seconds or env.lease_seconds
    from webhook.drift import DriftPoller
    from webhook.engine import SyncEngine
    from webhook.kube.throttle import THROTTLED
    from webhook.steps import worker_step
    from webhook.worker import Worker

    # One GitHub client (one installation-token cache) for the reporter and for git.
    github = _github(env)
    engine = SyncEngine(
        config,
        env,
        cache_dir=env.cache_dir,
        token_for=github.git_token_for if github is not None else None,
    )
    store = _open_store(env)
    reporter = None
    if github is not None:
        from webhook.reporter import Reporter

        reporter = Reporter(store, config, github)
    step = worker_step(engine, store)
    heard = threading.Event()  # the store's doorbell: a job was queued
    wakeup = heard if store.doorbell is not None and store.doorbell.listen(heard) else None
    if github is not None:
        from webhook.commands import Commands

        step = Commands(step, github, store, config, env)
    runner = Worker(
        store,
        step,
        concurrency=concurrency,
        max_concurrency=max(concurrency, env.worker_max_concurrency),
        pressure=lambda: THROTTLED.count,
        lease_seconds=lease_seconds,
        listeners=[reporter] if reporter is not None else [],
        retry_seconds=env.retry_seconds,
        retry_max_seconds=env.retry_max_seconds,
        wakeup=wakeup,
    )
    if reporter is None:
        log.warning("no GitHub credentials: job states stay in the outbox, nothing is reported")
    else:
        threading.Thread(
            target=reporter.run, args=(runner.stopping,), name="reporter", daemon=True
        ).start()

    signalled: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        # Once only: the handler runs in the main thread between two of its bytecodes, so a
        # second signal arriving inside the first handler's Event.set would wait forever for
        # the lock that the first holds (a supervisor or an operator sending SIGTERM twice).
        if signalled:
            return
        signalled.append(signum)
        log.info("signal %s: finishing running jobs, claiming no more", signum)
        runner.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if config.notifications:
        from webhook.notify import MissingWebhookUrl, Notifier, targets_from

        try:
            targets = targets_from(config, os.environ)
        except MissingWebhookUrl as exc:
            _fail([str(exc)])
        notifier = Notifier(store, config, targets)
        threading.Thread(
            target=notifier.run, args=(runner.stopping,), name="notifier", daemon=True
        ).start()
    if config.resync_interval > 0:
        drift = DriftPoller(config, store, engine, config.resync_interval, owner=runner.owner)
        threading.Thread(target=drift.run, args=(runner.stopping,), daemon=True).start()
    health_bind = health_bind or env.worker_health_bind
    if health_bind:
        from webhook.worker_probe import ProbeServer

        ProbeServer(health_bind, lambda: runner.stalled(stall_seconds)).start()
        log.info("worker %s: /healthz and /metrics on %s", runner.owner, health_bind)
    _start_recovery(config, store, github, runner.owner, runner.stopping)
    log.info(
        "worker %s: %s app(s), concurrency %s (up to %s)",
        runner.owner,
        len(config.apps),
        concurrency,
        runner.max_concurrency,
    )
    memory.release()  # what start-up freed: the worker idles between jobs from here
    runner.run()


def _github(env: Environment) -> GitHubClient | None:
    """``GitHubClient.from_env``: the client of the environment's credentials (a GitHub App's
    or ``GITHUB_TOKEN``), or None when there are none, then without importing PyGithub (nor
    the reporter and recovery, which need a client): 0.1-0.15 s of CPU of a worker's
    start-up. With no credentials ``git_token_provider`` is None too: git uses no token."""
    if not (env.github_token or (env.github_app_id and env.github_app_private_key)):
        return None
    from webhook.github import GitHubClient

    return GitHubClient.from_env(env)


def _start_recovery(
    config: DeployerConfig,
    store: SqlStore,
    github: GitHubClient | None,
    owner: str,
    stopping: threading.Event,
) -> None:
    """Recover missed deliveries in the background when hooks are configured."""
    settings = config.recover_deliveries
    if settings.interval <= 0 or not (settings.hooks or settings.app_hook):
        return
    if github is None:
        log.warning("recover_deliveries: no GitHub credentials; missed deliveries stay missed")
        return
    from webhook.recovery import Recovery

    recovery = Recovery(config, store, github, owner=owner)
    threading.Thread(target=recovery.run, args=(stopping,), name="recovery", daemon=True).start()


@main.command()
@CONFIG_OPTION
@click.option("--bind", help="host:port (default: $DEPLOYER_BIND, else 127.0.0.1:8080)")
def serve(config_file: str | None, bind: str | None) -> None:
    """Run the receiver (gunicorn) and the sync workers together; SIGTERM drains both."""
    _, env = _load(config_file)  # fail fast, with every error, before starting anything
    env.configure_logging()
    use_shared_dir()  # the web and the worker processes answer /metrics together
    bind = bind or env.bind
    extra = ["--config", config_file] if config_file else []
    # The checks are done: become the small supervisor (same PID, so signals still reach
    # it), leaving behind everything they loaded.
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.execv(sys.executable, [sys.executable, "-m", "webhook.supervise", bind, *extra])


@main.command()
def migrate() -> None:
    """Bring the store ($DEPLOYER_DATABASE_URL) to this release's schema; every process
    also does so when it starts. Refuses a store migrated by a newer release."""
    environ = {"GITHUB_WEBHOOK_SECRET": "unused-by-this-command", **os.environ}
    try:
        env = Environment.from_environ(environ)
    except ConfigError as exc:
        _fail(exc.errors)
    store = _open_store(env)
    click.echo(str(store.migration))
    store.close()


def _app(config: DeployerConfig, name: str) -> AppConfig:
    app = config.app(name)
    if app is None:
        _fail([f"no app named {name!r}; known: {', '.join(a.name for a in config.apps) or 'none'}"])
    return app


@main.command()
@CONFIG_OPTION
@click.argument("app_name", metavar="APP")
@click.option("--revision", help="Commit SHA (default: the branch head).")
@click.option("--dry-run", is_flag=True, help="Server-side dry run; change nothing.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress lines on stderr (default: only when stderr is a terminal).",
)
def sync(
    config_file: str | None,
    app_name: str,
    revision: str | None,
    dry_run: bool,
    progress: bool | None,
) -> None:
    """Break-glass: sync APP from this machine, bypassing the running deployer.

    It applies directly, outside the deployer's queue, leases and history (another sync of
    the same app may run at the same time, and no job records this one). In normal
    operation use `approve APP` against the running deployer. Exit non-zero on failure.
    """
    import json

    from webhook.engine import SyncEngine
    from webhook.errors import DeployerError
    from webhook.github import git_token_provider

    config, env = _load(config_file, need_secret=False)
    env.configure_logging()
    app = _app(config, app_name)
    click.echo(
        "warning: break-glass sync: bypasses the deployer's queue, leases and history; "
        "use `webhook-deployer approve` against a running deployer instead",
        err=True,
    )
    show_progress(progress)
    engine = SyncEngine(config, env, cache_dir=env.cache_dir, token_for=git_token_provider(env))
    try:
        result = engine.sync(app, revision or engine.head(app), dry_run=dry_run)
    except DeployerError as exc:
        _fail([f"{app.name}: {exc}"])
    click.echo(json.dumps(result.to_dict(), indent=2))
    click.echo(one_line(result.summary()), err=True)
    sys.exit(0 if result.ok else 1)


@main.command()
@CONFIG_OPTION
@click.argument("app_name", metavar="APP")
@click.option("--revision", help="Commit SHA (default: the branch head).")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json", "yaml"]),
    default="text",
    show_default=True,
    help="text: unified diffs; json/yaml: a list of {object, action, diff}.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress lines on stderr (default: only when stderr is a terminal).",
)
def diff(
    config_file: str | None,
    app_name: str,
    revision: str | None,
    output: str,
    progress: bool | None,
) -> None:
    """Show what a sync would change, live against desired (Secret data redacted).

    Exit status as kubectl diff: 0 no differences, 1 differences, 2 an error.
    """
    from webhook.engine import SyncEngine, SyncError
    from webhook.errors import DeployerError
    from webhook.github import git_token_provider

    config, env = _load(config_file, need_secret=False)
    app = _app(config, app_name)
    show_progress(progress)
    engine = SyncEngine(config, env, cache_dir=env.cache_dir, token_for=git_token_provider(env))
    try:
        changes = engine.changes(app, revision or engine.head(app))
    except SyncError as exc:
        _fail([f"{app.name}: {line}" for line in (exc.errors or [str(exc)])])
    except DeployerError as exc:
        _fail([f"{app.name}: {exc}"])
    except Exception as exc:  # exit 1 means "differences": any other failure must be 2
        _fail([f"{app.name}: internal error: {type(exc).__name__}: {exc}"])
    if output == "text":
        for change in changes:
            click.echo(
                change.diff or f"# {change.object}: {change.action} (redacted values)\n", nl=False
            )
    else:
        click.echo(_data([change.to_dict() for change in changes], output), nl=False)
    sys.exit(1 if changes else 0)


@main.command()
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


from webhook.output import data_text as _data  # noqa: E402
from webhook.remote import COMMANDS as _REMOTE  # noqa: E402

for _command in _REMOTE:
    main.add_command(_command)


if __name__ == "__main__":
    main()
