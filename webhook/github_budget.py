"""The pace of GitHub writes: a token bucket shared by every content-creating request.

Owns: ``WriteBudget`` and its arithmetic. Must not touch: GitHub itself (the client spends
the budget before each write), the queue, the cluster.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class WriteBudget:
    """Paces content-creating requests as a token bucket: up to ``burst`` at once, then
    ``per_second``.

    GitHub's secondary rate limits punish bursts of writes (about 80 a minute) and ask for a
    second between writes when there are many. A merge's report is a handful of writes
    (statuses on two commits, a comment): a small burst lets them go out at once, so the
    green status is not held back seconds by pacing, while a sustained stream stays at one a
    second, under the limit. ``per_second=0`` turns pacing off (tests).
    """

    def __init__(
        self,
        *,
        burst: int = 10,
        per_second: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.burst, self.per_second = burst, per_second
        self.clock, self.sleep = clock, sleep
        self.tokens = float(burst)
        self.updated = clock()
        self._lock = threading.Lock()

    def take(self) -> None:
        """Wait, if need be, until one more write is within budget; then spend it."""
        if self.per_second <= 0:
            return
        with self._lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.per_second)
            self.updated = now
            if self.tokens < 1:
                wait = (1 - self.tokens) / self.per_second
                self.sleep(wait)
                self.tokens, self.updated = 1.0, self.clock()
            self.tokens -= 1
