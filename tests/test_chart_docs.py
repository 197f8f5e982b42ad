"""The chart's README: its values table is what scripts/chart-docs writes from values.yaml."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "charts" / "webhook-deployer"
SCRIPT = REPO / "scripts" / "chart-docs"


def chart_docs(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
    )


def test_the_committed_chart_readme_is_the_generated_one() -> None:
    proc = chart_docs("--check", str(CHART))
    assert proc.returncode == 0, proc.stderr


def test_a_changed_value_makes_the_readme_stale_until_regenerated(tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    values = chart / "values.yaml"
    values.write_text(values.read_text().replace("stallSeconds: 900", "stallSeconds: 1200"))
    stale = chart_docs("--check", str(chart))
    assert stale.returncode == 1 and "stale" in stale.stderr
    assert chart_docs(str(chart)).returncode == 0
    row = next(
        line
        for line in (chart / "README.md").read_text().splitlines()
        if "`worker.stallSeconds`" in line
    )
    assert row.startswith("| `worker.stallSeconds` | int | `1200` | Seconds a worker's sync loop")


def test_every_documented_key_has_a_row_with_its_own_description() -> None:
    readme = (CHART / "README.md").read_text()
    assert '| `image.digest` | string | `""` |' in readme
    assert "| `azureWorkloadIdentity.clientId` | string |" in readme
    # `@default --` replaces a default too long or too computed to show.
    assert "| `config` | object | no apps, drift checks every 300 s |" in readme
    # Undocumented parents (plain groupings) get no row of their own.
    assert "| `image` |" not in readme
