"""Back off when the API server says it is too busy (HTTP 429), on every request a cluster
connection makes.

The ``kubernetes`` client retries 429 only on reads, and only when asked to; an apply, a
delete or a watch answered 429 surfaced as a failed sync. The API server answers 429 when
its priority-and-fairness queues (or ``--max-requests-inflight``) are full, with a
``Retry-After`` in seconds: a fleet sync at high worker concurrency meets this first. Here
every request is sent again after the server's ``Retry-After`` (bounded by ``MAX_WAIT``;
a small growing delay when the header is missing or unreadable), up to ``ATTEMPTS`` times in
all; the last 429 is then returned to the caller as before. Must not touch: anything but the
transport (no error translation: ``client.translated`` does that).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: Sends of one request in all (the first one included).
ATTEMPTS = 6
#: Most seconds waited before one retry, whatever ``Retry-After`` says.
MAX_WAIT = 10.0
#: Seconds waited when the server sends no usable ``Retry-After``; doubled each time.
FIRST_WAIT = 0.25
TOO_MANY_REQUESTS = 429


def retry_after(headers: Any, attempt: int) -> float:
    """Seconds to wait before send ``attempt + 1`` (``Retry-After`` in seconds, bounded)."""
    raw = None
    if headers is not None:
        try:
            raw = headers.get("Retry-After")
        except AttributeError:
            raw = None
    try:
        wait = float(raw) if raw is not None else None
    except (TypeError, ValueError):
        wait = None  # an HTTP date or junk: fall back to our own backoff
    if wait is None or wait < 0:
        wait = FIRST_WAIT * 2**attempt
    return min(wait, MAX_WAIT)


class Throttled:
    """Counts the 429s this process has met (what a benchmark or a metric reads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def add(self) -> None:
        with self._lock:
            self.count += 1


#: Every 429 answer met by any cluster connection in this process.
THROTTLED = Throttled()


def _release(response: Any) -> None:
    """Give the connection of an unread answer back to the pool."""
    raw = getattr(response, "response", None)
    for name in ("drain_conn", "release_conn"):
        method = getattr(raw, name, None)
        if callable(method):
            with contextlib.suppress(Exception):  # a broken connection is not reused
                method()


def retrying(request: Callable[..., Any]) -> Callable[..., Any]:
    """``request`` (a ``RESTClientObject.request``), sent again while it is answered 429."""

    def send(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(ATTEMPTS):
            response = request(*args, **kwargs)
            if getattr(response, "status", None) != TOO_MANY_REQUESTS or attempt == ATTEMPTS - 1:
                return response
            THROTTLED.add()
            wait = retry_after(getattr(response, "headers", None), attempt)
            log.info("API server busy (429): retrying in %.2f s", wait)
            _release(response)
            time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    return send


def install(api_client: Any) -> None:
    """Make every request of ``api_client`` (a ``kubernetes.client.ApiClient``) back off."""
    rest = api_client.rest_client
    rest.request = retrying(rest.request)
