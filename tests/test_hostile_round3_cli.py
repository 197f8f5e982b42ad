"""Round 3 of the attacker's review: the break-glass commands an operator runs in a terminal
(``sync``, ``diff``) print a failure's text, and that text quotes the repository (a chart's
``fail`` message): escape sequences in it retitled the window, cleared the screen or moved
the cursor. Real helm, real git, the real control plane; the CLI through click's runner."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from tests.gitops import GitOps, write_config
from webhook.cli import main

#: OSC 0 (window title), then "clear screen" and a carriage return over the line.
HOSTILE = r"\x1b]0;owned\x07\x1b[2J\rall good"
CHART = "apiVersion: v2\nname: shop\nversion: 0.1.0\n"


def test_a_charts_fail_message_reaches_the_terminal_as_text(
    gitops: GitOps, tmp_path: Path, kubeconfig: Path
) -> None:
    gitops.commit(
        {
            "apps/shop/Chart.yaml": CHART,
            "apps/shop/templates/a.yaml": '{{ fail "' + HOSTILE + '" }}\n',
        }
    )
    config = write_config(gitops, tmp_path)
    env = {"KUBECONFIG": str(kubeconfig), "DEPLOYER_CACHE_DIR": str(tmp_path / "cache")}
    for command in ("sync", "diff"):
        result = CliRunner().invoke(main, [command, "--config", str(config), "shop"], env=env)
        assert result.exit_code != 0
        said = result.stderr
        assert "owned" in said, said  # the message is there, as text
        for control in ("\x1b", "\x07", "\r"):
            assert control not in said, (command, said)
        assert "\\x1b]0;owned\\x07" in said
