"""The ``processes`` mark: tests that start other Python interpreters.

A real ``webhook-deployer`` command (``serve``, ``web``, ``worker``, ``migrate``), a
``multiprocessing`` child or a fresh ``python -c`` costs a second or more of start-up each,
so ``-m "not cluster and not processes"`` is the run that finishes in seconds. The mark
only leaves that optional run: ``-m "not cluster"`` and ``scripts/test`` run these tests.

The table names the tests (``name`` or ``name[parameter id]``, shell patterns), so their
modules stay untouched; ``tests/test_markers.py`` fails when a pattern names no test of its
module, so a renamed test cannot leave the table stale.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

import pytest

#: module path -> patterns of test names (with their parameters) that start processes.
PROCESS_TESTS: dict[str, tuple[str, ...]] = {
    "tests/queue/test_deliveries.py": ("test_*_from_many_processes_*",),
    "tests/queue/test_races.py": ("test_*[*-process]",),
    "tests/test_cli_startup.py": ("test_without_credentials_pygithub_is_not_imported",),
    "tests/test_doorbell.py": ("test_a_job_queued_by_another_process_*",),
    "tests/test_faults.py": ("test_a_web_process_killed_right_after_202_keeps_the_job*",),
    "tests/test_footprint.py": ("test_serve_runs_*", "test_web_single_process_*"),
    "tests/test_hostile_web.py": ("test_real_server_*", "test_32_slow_clients_*"),
    "tests/test_logs.py": (
        "test_serve_logs_json_lines_with_context_and_no_secret",
        "test_configure_debug_reaches_our_loggers_but_not_client_libraries",
    ),
    "tests/test_metrics.py": (
        "test_serve_adds_up_its_processes_in_one_scrape",
        "test_the_worker_serves_its_probe_where_the_environment_says",
    ),
    "tests/test_postgres_driver.py": ("test_a_postgres_url_without_the_driver_*",),
    "tests/test_promises.py": ("test_the_web_and_worker_commands_each_do_their_half",),
    "tests/test_recovery.py": ("test_the_worker_command_recovers_missed_deliveries_at_start",),
    "tests/test_report_crash.py": ("test_*",),
    "tests/test_schema_upgrade.py": (
        "test_a_store_of_the_previous_release_is_migrated_and_its_jobs_run*",
        "test_processes_starting_together_migrate_once*",
        "test_a_store_migrated_by_a_newer_release_is_refused_with_one_line*",
    ),
    "tests/test_secret_rotation.py": ("test_a_real_web_process_*",),
    "tests/test_serve.py": ("test_*",),
    "tests/test_signals.py": ("test_*",),
    "tests/test_settings.py": (
        "test_importing_the_package_loads_no_flask",
        "test_the_web_and_supervisor_processes_load_no_cluster_github_or_cel_client",
    ),
    "tests/test_store_faults.py": ("test_postgresql_gone_under_load_*",),
    "tests/test_worker.py": ("test_job_of_a_killed_worker_is_run_again_after_its_lease_expires",),
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "processes: starts other Python interpreters (deployer commands, multiprocessing);"
        " set from tests/plugins/processes.py, left out by"
        ' -m "not cluster and not processes"',
    )


def marks(module: str, name: str, param: str | None) -> bool:
    """Whether test ``name`` of ``module`` (with parameter id ``param``) is in the table."""
    for pattern in PROCESS_TESTS.get(module, ()):
        name_pattern, _, param_pattern = pattern.partition("[")
        if fnmatchcase(name, name_pattern) and (
            not param_pattern or (param is not None and fnmatchcase(param, param_pattern[:-1]))
        ):
            return True
    return False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        name = getattr(item, "originalname", item.name)
        if marks(item.nodeid.split("::", 1)[0], name, callspec.id if callspec else None):
            item.add_marker(pytest.mark.processes)
