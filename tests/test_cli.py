"""The ``sync`` and ``diff`` commands on the real control plane with a real git repo."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from kubernetes import client

from tests.gitops import GitOps, cm, dump, write_config
from webhook.cli import main


def test_sync_and_diff_commands(
    gitops: GitOps, tmp_path: Path, kubeconfig: Path, k8s_api_client: client.ApiClient
) -> None:
    core = client.CoreV1Api(k8s_api_client)
    ns = gitops.namespace
    config = write_config(gitops, tmp_path)
    env = {"KUBECONFIG": str(kubeconfig), "DEPLOYER_CACHE_DIR": str(tmp_path / "cache")}
    runner = CliRunner()
    gitops.commit({"apps/shop/app.yaml": dump(cm("settings", "v1"))})

    dry = runner.invoke(main, ["sync", "--config", str(config), "shop", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert core.list_namespaced_config_map(ns, field_selector="metadata.name=settings").items == []

    real = runner.invoke(main, ["sync", "--config", str(config), "shop"], env=env)
    assert real.exit_code == 0, real.output
    assert core.read_namespaced_config_map("settings", ns).data == {"value": "v1"}

    newer = gitops.commit({"apps/shop/app.yaml": dump(cm("settings", "v2"))})
    diff = runner.invoke(
        main, ["diff", "--config", str(config), "shop", "--revision", newer], env=env
    )
    assert diff.exit_code == 1, diff.output  # differences, as kubectl diff
    assert "-  value: v1" in diff.output and "+  value: v2" in diff.output

    broken = gitops.commit({"apps/shop/app.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n"})
    failed = runner.invoke(
        main, ["sync", "--config", str(config), "shop", "--revision", broken], env=env
    )
    assert failed.exit_code == 1
    assert "apps/shop/app.yaml" in failed.output
    assert core.read_namespaced_config_map("settings", ns).data == {"value": "v1"}
