"""Whether a mirror holds a commit, asked of a long-lived ``git cat-file --batch-check``.

Every sync asks at least twice (before a fetch, whether one is needed; after it, that what
came is a commit), and ``git cat-file -e`` was a process each time: 3-8 ms apiece on the
path from merge to status on this project's machine. One ``--batch-check`` per mirror
answers each question in well under a millisecond. It sees objects fetched after it
started: git looks for new packs again before it answers that an object is missing.

At most ``KEEP`` processes stay (the mirrors asked most recently); an idle one costs a few
MB. Any failure (a process that died, an answer that does not parse, a slow answer) ends
that process and the question is asked of a one-off ``git cat-file -e``, so a probe never
makes an answer wrong, only slower. Must not touch: fetching, remotes, checkouts.
"""

from __future__ import annotations

import select
import subprocess
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

#: Long-lived probes kept (one per mirror, the most recently used).
KEEP = 4
#: Seconds one answer may take before the probe is given up for a one-off process.
ANSWER_TIMEOUT = 10.0


class _Probe:
    def __init__(self, mirror: Path, env: dict[str, str]) -> None:
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(
            ["git", "cat-file", "--batch-check"],
            cwd=mirror,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    def ask(self, name: str) -> str:
        """One line of ``--batch-check``'s answer to ``name``; OSError when none comes."""
        stdin, stdout = self.proc.stdin, self.proc.stdout
        if stdin is None or stdout is None:
            raise OSError("probe has no pipes")
        stdin.write(name.encode("ascii") + b"\n")
        stdin.flush()
        ready, _, _ = select.select([stdout], [], [], ANSWER_TIMEOUT)
        if not ready:
            raise OSError("no answer in time")
        line = stdout.readline()
        if not line.endswith(b"\n"):
            raise OSError("probe ended")
        return line.decode("ascii", "replace").rstrip("\n")

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


def _close_all(probes: OrderedDict[Path, _Probe]) -> None:
    while probes:
        probes.popitem()[1].close()


class CommitProbes:
    """``has_commit(mirror, name)``: whether ``name`` (a SHA, or ``SHA^1``) names a commit
    the mirror holds. ``env()`` is the git environment to start a probe with."""

    def __init__(self, env: Callable[[], dict[str, str]], keep: int = KEEP) -> None:
        self.env, self.keep = env, keep
        self._lock = threading.Lock()
        self._probes: OrderedDict[Path, _Probe] = OrderedDict()
        #: Probe processes started (what a test reads).
        self.started = 0
        # Whoever forgets to close (an engine dropped, the process exiting): the probes end
        # with this object, not later as running processes nobody waits for.
        weakref.finalize(self, _close_all, self._probes)

    def has_commit(self, mirror: Path, name: str) -> bool:
        if not name or not name.isascii() or any(c.isspace() for c in name):
            raise ValueError(f"not an object name: {name!r}")
        question = f"{name}^{{commit}}"
        probe = self._probe(mirror)
        try:
            with probe.lock:
                answer = probe.ask(question)
        except (OSError, ValueError):
            self._drop(mirror, probe)
            return self._once(mirror, question)
        if answer.endswith(" missing") or answer.endswith(" ambiguous"):
            return False
        parts = answer.split(" ")
        if len(parts) == 3 and parts[1] == "commit":
            return True
        self._drop(mirror, probe)
        return self._once(mirror, question)

    def close(self) -> None:
        with self._lock:
            _close_all(self._probes)

    def _probe(self, mirror: Path) -> _Probe:
        with self._lock:
            probe = self._probes.get(mirror)
            # In a forked child the parent's probe is not its child: ``poll`` finds it ended
            # (ECHILD), so the child starts its own and never signals the parent's.
            if probe is not None and probe.proc.poll() is None:
                self._probes.move_to_end(mirror)
                return probe
            old = [] if probe is None else [self._probes.pop(mirror)]
            probe = _Probe(mirror, self.env())
            self.started += 1
            self._probes[mirror] = probe
            while len(self._probes) > self.keep:
                old.append(self._probes.popitem(last=False)[1])
        for stale in old:
            with stale.lock:
                stale.close()
        return probe

    def _drop(self, mirror: Path, probe: _Probe) -> None:
        with self._lock:
            if self._probes.get(mirror) is probe:
                del self._probes[mirror]
        probe.close()

    def _once(self, mirror: Path, question: str) -> bool:
        proc = subprocess.run(
            ["git", "cat-file", "-e", question],
            cwd=mirror,
            env=self.env(),
            capture_output=True,
            timeout=60.0,
            check=False,
        )
        return proc.returncode == 0
