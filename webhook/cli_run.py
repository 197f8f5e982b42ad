"""``webhook-deployer serve``, ``web`` and ``worker``: start the deployer's processes and
wire each one's parts (receiver, workers, reporter, notifier, drift, recovery) together.

Owns: the wiring and the signal handling of a worker process. Must not touch: what the
parts do; heavy modules (PyGithub, the engine) are imported only by the command that runs
them, so the web and supervisor processes stay small.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING

import click

from webhook import memory
from webhook.cli_common import CONFIG_OPTION, fail, load, open_migrated_store
from webhook.metrics_dir import use_shared_dir
from webhook.queue import SqlStore
from webhook.settings import DeployerConfig, Environment

if TYPE_CHECKING:
    from webhook.github import GitHubClient

log = logging.getLogger("webhook.cli")


@click.command()
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

    config, env = load(config_file)
    env.configure_logging()
    open_migrated_store(env).close()  # migrate once, here, before the gunicorn processes open it
    serve_web(
        config,
        env,
        bind=bind or env.bind,
        workers=workers,
        threads=threads,
        single_process=single_process,
    )


@click.command()
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
    config, env = load(config_file)
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
    store = open_migrated_store(env)
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
            fail([str(exc)])
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


@click.command()
@CONFIG_OPTION
@click.option("--bind", help="host:port (default: $DEPLOYER_BIND, else 127.0.0.1:8080)")
def serve(config_file: str | None, bind: str | None) -> None:
    """Run the receiver (gunicorn) and the sync workers together; SIGTERM drains both."""
    _, env = load(config_file)  # fail fast, with every error, before starting anything
    env.configure_logging()
    use_shared_dir()  # the web and the worker processes answer /metrics together
    bind = bind or env.bind
    extra = ["--config", config_file] if config_file else []
    # The checks are done: become the small supervisor (same PID, so signals still reach
    # it), leaving behind everything they loaded.
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.execv(sys.executable, [sys.executable, "-m", "webhook.supervise", bind, *extra])
