"""Progress lines of the local ``sync`` and ``diff`` on a terminal, and none when piped:
the real command in a child process whose stderr is a pseudo-terminal, or a pipe, against
the real control plane and a real git repository."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from tests.gitops import GitOps, cm, dump, write_config


def _run(args: list[str], env: dict[str, str], *, tty: bool) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of ``webhook-deployer ARGS``; stderr a terminal or not."""
    command = [sys.executable, "-m", "webhook.cli", *args]
    full_env = {**os.environ, **env}
    if not tty:
        done = subprocess.run(command, env=full_env, capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout, done.stderr
    leader, follower = pty.openpty()
    proc = subprocess.Popen(command, env=full_env, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.stdout is not None
    with proc.stdout:
        out = proc.stdout.read().decode()
    code = proc.wait(120)
    os.close(leader)
    return code, out, b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")


def test_sync_and_diff_show_progress_on_a_terminal_only(
    gitops: GitOps, tmp_path: Path, kubeconfig: Path
) -> None:
    config = write_config(gitops, tmp_path)
    env = {"KUBECONFIG": str(kubeconfig), "DEPLOYER_CACHE_DIR": str(tmp_path / "cache")}
    gitops.commit({"apps/shop/app.yaml": dump(cm("a", "1"), cm("b", "1"))})

    code, out, err = _run(["sync", "--config", str(config), "shop"], env, tty=True)
    assert code == 0, err
    assert json.loads(out)["error"] is None  # stdout stays data
    assert "shop: rendered 2 objects at" in err
    assert "shop: compared with the cluster: 2 of 2 objects to change" in err
    assert "shop: applied config: 2 objects" in err
    assert "shop: waiting for 2 objects to be healthy (up to 300s)" in err
    assert "warning: break-glass sync" in err

    gitops.commit({"apps/shop/app.yaml": dump(cm("a", "2"), cm("b", "1"))})
    code, out, err = _run(["sync", "--config", str(config), "shop"], env, tty=False)
    assert code == 0, err
    assert json.loads(out)["error"] is None
    assert "rendered" not in err and "waiting for" not in err and "s] " not in err
    assert "warning: break-glass sync" in err

    gitops.commit({"apps/shop/app.yaml": dump(cm("a", "3"), cm("b", "1"))})
    code, out, err = _run(["diff", "--config", str(config), "shop"], env, tty=True)
    assert code == 1, err
    assert '+  value: "3"' in out or "+  value: '3'" in out
    assert "shop: compared with the cluster: 1 of 2 objects to change" in err
    code, out, err = _run(["diff", "--config", str(config), "shop"], env, tty=False)
    assert code == 1 and err == ""
