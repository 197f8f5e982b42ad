"""The `cluster` mark comes from the fixtures alone, so quick runs keep every other test."""

from __future__ import annotations

import ast
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from tests.plugins.processes import PROCESS_TESTS, marks

REPO = Path(__file__).resolve().parents[1]

pytest_plugins = ["pytester"]

MODULE = """
import pytest

pytestmark = pytest.mark.cluster

def test_pure():
    pass
"""

USES_TOOLS = """
import pytest

@pytest.mark.usefixtures("tools")
def test_renders():
    pass

def test_pure():
    pass
"""


def test_a_hand_set_cluster_mark_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_module=MODULE)
    result = pytester.runpytest_inprocess("-p", "tests.plugins.cluster", "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_pure is marked `cluster` but uses no cluster fixture*"])


def test_a_test_using_the_tools_leaves_quick_runs_and_the_rest_stay(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_module=USES_TOOLS)
    result = pytester.runpytest_inprocess(
        "-p", "tests.plugins.cluster", "-m", "not cluster", "--collect-only", "-q"
    )
    result.stdout.fnmatch_lines(["test_module.py::test_pure", "*1/2 tests collected*"])


def test_every_processes_pattern_names_a_test_of_its_module() -> None:
    """A renamed or removed test must not leave tests/plugins/processes.py's table stale."""
    stale = []
    for module, patterns in PROCESS_TESTS.items():
        tree = ast.parse((REPO / module).read_text())
        names = [
            node.name
            for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
        ]
        for pattern in patterns:
            if not any(fnmatchcase(name, pattern.partition("[")[0]) for name in names):
                stale.append(f"{module}: {pattern}")
    assert stale == []


def test_the_processes_table_marks_by_name_and_parameter() -> None:
    assert marks("tests/queue/test_races.py", "test_concurrent_claims", "postgres-process")
    assert not marks("tests/queue/test_races.py", "test_concurrent_claims", "postgres-thread")
    assert not marks("tests/queue/test_races.py", "test_concurrent_claims", None)
    assert marks("tests/test_serve.py", "test_anything", None)
    assert not marks("tests/test_settings.py", "test_a_good_config_loads_with_defaults", None)
