"""Run ``kustomize`` or ``helm`` from PATH with nothing of the deployer's own: no tokens,
no kubeconfig, no helm plugins or repositories, a fresh HOME, output read with a cap.

Owns: the child process's environment, its temporary homes, its timeout and output bounds
(each run's own, and the time all the runs of one render share: ``render_deadline``), and
its standing with the out-of-memory killer (first to go).
Must not touch: what the tool is asked to do (kustomize.py, helm.py decide the argv).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from webhook.render import limits
from webhook.render.output import RenderError

#: Only these survive from the deployer's environment; tokens, KUBECONFIG, proxies do not.
PASSED_VARIABLES = ("PATH", "LANG")
#: Variables that each name a private directory, created per run and removed after it.
_HOMES = (
    "HOME",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "HELM_CACHE_HOME",
    "HELM_CONFIG_HOME",
    "HELM_DATA_HOME",
    "HELM_PLUGINS",
    "TMPDIR",
)


#: Run through ``sh`` that first makes the tool the out-of-memory killer's first choice: a
#: template can make helm allocate gigabytes (``repeat``, ``range``) before any output is
#: read, and when memory runs out the kernel must end the tool, not the deployer.
_OOM_FIRST = '{ echo 1000 > /proc/self/oom_score_adj; } 2>/dev/null; exec "$0" "$@"'


#: When the tool runs of the render under way must have ended (``time.monotonic``).
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "render_deadline", default=None
)


@contextlib.contextmanager
def render_deadline() -> Iterator[None]:
    """Every tool run inside shares ``limits.RENDER_TIMEOUT`` seconds (a render nested in
    another keeps the outer one's deadline). Per thread: each worker's render its own."""
    if _DEADLINE.get() is not None:
        yield
        return
    token = _DEADLINE.set(time.monotonic() + limits.RENDER_TIMEOUT)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _timeout(tool: str, label: str) -> float:
    """Seconds this run may take: its own bound, or what is left of the render's."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return limits.TOOL_TIMEOUT
    left = deadline - time.monotonic()
    if left <= 0:
        raise RenderError(
            f"{label}: the render's tool runs took longer than {limits.RENDER_TIMEOUT:.0f}s "
            f"in all; `{tool}` was not started (a folder of many kustomization subfolders "
            "builds each of them)"
        )
    return min(limits.TOOL_TIMEOUT, left)


def clean_environment(scratch: Path) -> dict[str, str]:
    """The whole environment a tool gets: PATH, LANG and empty private homes under ``scratch``."""
    env = {k: v for k, v in os.environ.items() if k in PASSED_VARIABLES}
    for variable in _HOMES:
        folder = scratch / variable.lower()
        folder.mkdir()
        env[variable] = str(folder)
    home = Path(env["HELM_CONFIG_HOME"])
    env["HELM_REGISTRY_CONFIG"] = str(home / "registry.json")
    env["HELM_REPOSITORY_CONFIG"] = str(home / "repositories.yaml")
    env["HELM_REPOSITORY_CACHE"] = str(Path(env["HELM_CACHE_HOME"]) / "repository")
    # git (kustomize's remote loader) must not read a system config or ask for a password.
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env


def which(tool: str, label: str) -> str:
    """The tool's absolute path on PATH, or a RenderError naming it."""
    binary = shutil.which(tool)
    if binary is None:
        raise RenderError(f"{label}: rendering needs `{tool}`, which is not on PATH")
    return binary


def _read_capped(
    proc: subprocess.Popen[bytes], tool: str, label: str, timeout: float
) -> tuple[bytes, bytes]:
    """Both pipes until EOF; kill the tool when its output passes the cap or time runs out."""
    assert proc.stdout is not None and proc.stderr is not None
    chunks: dict[int, list[bytes]] = {proc.stdout.fileno(): [], proc.stderr.fileno(): []}
    sizes = dict.fromkeys(chunks, 0)
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        for pipe in (proc.stdout, proc.stderr):
            selector.register(pipe, selectors.EVENT_READ)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise RenderError(f"{label}: `{tool}` took longer than {timeout:.0f}s")
            for key, _ in selector.select(timeout=left):
                data = os.read(key.fd, 65536)
                if not data:
                    selector.unregister(key.fileobj)
                    continue
                sizes[key.fd] += len(data)
                if sizes[key.fd] > limits.MAX_DOCUMENT_BYTES:
                    raise RenderError(
                        f"{label}: `{tool}` output larger than {limits.MAX_DOCUMENT_BYTES} bytes"
                    )
                chunks[key.fd].append(data)
    return b"".join(chunks[proc.stdout.fileno()]), b"".join(chunks[proc.stderr.fileno()])


def run_tool(argv: Sequence[str], cwd: Path, label: str) -> str:
    """Run ``argv`` in ``cwd`` with a clean environment; its stdout, or a RenderError."""
    binary = which(argv[0], label)
    timeout = _timeout(argv[0], label)
    with tempfile.TemporaryDirectory(prefix="render-") as scratch:
        env = clean_environment(Path(scratch))
        proc = subprocess.Popen(
            ["/bin/sh", "-c", _OOM_FIRST, binary, *argv[1:]],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            out, err = _read_capped(proc, argv[0], label, timeout)
            returncode = proc.wait(timeout=max(1.0, timeout))
        finally:
            with contextlib.suppress(ProcessLookupError):  # the tool and what it started
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            proc.stdout.close()  # type: ignore[union-attr]
            proc.stderr.close()  # type: ignore[union-attr]
    text, errors = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    if returncode != 0:
        detail = (errors or text).strip().replace(str(cwd), label)
        raise RenderError(f"{label}: `{argv[0]}` failed: {detail[-2000:]}")
    return text
