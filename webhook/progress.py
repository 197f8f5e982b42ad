"""Progress of long CLI work on a terminal: rendered, compared, tiers applied, health waits.

The engine logs its steps to the ``webhook.progress`` logger at DEBUG (one line each, no
callbacks through its API); ``show`` prints them to stderr when stderr is a terminal, with
the seconds since the command started, and leaves them out when piped or redirected, so a
script reading ``sync``'s JSON or ``diff``'s output gets only data.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

LOGGER = "webhook.progress"


class _Elapsed(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self.start = time.monotonic()

    def format(self, record: logging.LogRecord) -> str:
        return f"[{time.monotonic() - self.start:6.1f}s] {record.getMessage()}"


def show(wanted: bool | None = None, stream: TextIO | None = None) -> bool:
    """Print progress lines to ``stream`` (stderr) when ``wanted``, or, by default, when it
    is a terminal. Whether they will be shown."""
    stream = stream or sys.stderr
    if wanted is None:
        wanted = stream.isatty()
    if not wanted:
        return False
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_Elapsed())
    logger = logging.getLogger(LOGGER)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # the lines are for the person watching, not the log
    logger.addHandler(handler)
    return True
