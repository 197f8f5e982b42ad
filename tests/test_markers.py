"""The `cluster` mark comes from the fixtures alone, so quick runs keep every other test."""

from __future__ import annotations

import pytest

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
