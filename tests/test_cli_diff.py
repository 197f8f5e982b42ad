"""``webhook-deployer diff`` as kubectl diff users expect it: exit 0 when nothing would
change, 1 when something would, 2 on any error; ``-o json|yaml`` as data. On the real
control plane with a real git repo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from tests.gitops import GitOps, cm, dump, write_config
from webhook.cli import main


class Diff:
    """Runs ``diff`` for the gitops app with a config file and a cluster."""

    def __init__(self, gitops: GitOps, tmp: Path, kubeconfig: Path) -> None:
        self.config = write_config(gitops, tmp)
        # prune on: objects that left git show as "pruned"
        settings = yaml.safe_load(self.config.read_text())
        settings["apps"][0]["prune"] = True
        self.config.write_text(yaml.safe_dump(settings))
        self.env = {"KUBECONFIG": str(kubeconfig), "DEPLOYER_CACHE_DIR": str(tmp / "cache")}

    def __call__(self, *args: str, app: str = "shop") -> Result:
        return CliRunner().invoke(
            main, ["diff", "--config", str(self.config), app, *args], env=self.env
        )

    def data(self, output: str) -> Any:
        result = self("-o", output)
        assert result.exit_code == 1, result.output
        return json.loads(result.stdout) if output == "json" else yaml.safe_load(result.stdout)


@pytest.fixture
def run_diff(gitops: GitOps, tmp_path: Path, kubeconfig: Path) -> Diff:
    return Diff(gitops, tmp_path, kubeconfig)


def test_diff_exits_0_and_prints_nothing_when_the_cluster_matches_git(
    gitops: GitOps, run_diff: Diff
) -> None:
    assert gitops.sync(gitops.commit({"apps/shop/app.yaml": dump(cm("settings", "v1"))})).ok
    text = run_diff()
    assert (text.exit_code, text.stdout) == (0, "")
    as_json = run_diff("-o", "json")
    assert (as_json.exit_code, json.loads(as_json.stdout)) == (0, [])
    assert yaml.safe_load(run_diff("-o", "yaml").stdout) == []


def test_diff_exits_1_with_unified_diffs_when_objects_would_change(
    gitops: GitOps, run_diff: Diff
) -> None:
    assert gitops.sync(gitops.commit({"apps/shop/app.yaml": dump(cm("settings", "v1"))})).ok
    gitops.commit({"apps/shop/app.yaml": dump(cm("settings", "v2"), cm("extra"))})
    result = run_diff()
    assert result.exit_code == 1, result.output
    assert "-  value: v1\n+  value: v2\n" in result.stdout
    assert f"+++ desired/ConfigMap/{gitops.namespace}/extra" in result.stdout


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_diff_as_data_lists_object_action_and_diff(
    gitops: GitOps, run_diff: Diff, output: str
) -> None:
    files = {"apps/shop/app.yaml": dump(cm("settings", "v1"), cm("old"))}
    assert gitops.sync(gitops.commit(files), prune=True).ok
    gitops.commit({"apps/shop/app.yaml": dump(cm("settings", "v2"), cm("new"))})
    changes = {c["object"].rsplit("/", 1)[-1]: c for c in run_diff.data(output)}
    assert {name: c["action"] for name, c in changes.items()} == {
        "settings": "configured",
        "new": "created",
        "old": "pruned",
    }
    assert all(set(c) == {"object", "action", "diff"} for c in changes.values())
    assert "+  value: v2\n" in changes["settings"]["diff"]
    assert changes["old"]["diff"].splitlines()[1] == "+++ /dev/null"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("broken manifest", "apps/shop/app.yaml"),
        ("unknown app", "no app named 'nope'"),
        ("unknown revision", f"commit {'0' * 40} does not exist"),
        ("no cluster", "shop: cluster (current context): Invalid kube-config file"),
    ],
)
def test_diff_exits_2_on_any_error_never_1(
    gitops: GitOps, run_diff: Diff, tmp_path: Path, case: str, expected: str
) -> None:
    gitops.commit({"apps/shop/app.yaml": dump(cm("settings"))})
    args: list[str] = []
    app = "shop"
    if case == "broken manifest":
        gitops.commit({"apps/shop/app.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n"})
    elif case == "unknown app":
        app = "nope"
    elif case == "unknown revision":
        args = ["--revision", "0" * 40]
    else:
        run_diff.env["KUBECONFIG"] = str(tmp_path / "missing-kubeconfig")
    result = run_diff(*args, app=app)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert expected in result.stderr
