"""The local GitHub server's record of webhook deliveries: what GitHub attempted, per hook.

Serves ``GET /repos/{owner}/{repo}/hooks/{hook_id}/deliveries[/{delivery_id}]`` and
``GET /app/hook/deliveries[/{delivery_id}]`` (``tests/github/api_server.py`` validates the
requests against GitHub's OpenAPI description first): newest first, ``per_page`` at a time,
the next page's ``cursor`` in a ``Link`` header as GitHub does. A test records an attempt
with ``record``: the delivery as sent (headers and payload) and the status code GitHub got
back (0: no answer at all, as for a connection refused or a timeout).
"""

from __future__ import annotations

import itertools
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.github.deliveries import Delivery

#: The hook key of a GitHub App's own webhook.
APP_HOOK = "app"


@dataclass
class Paged:
    """A page of a list, and the ``Link`` header that points to the next one."""

    items: list[Any]
    link: str | None


@dataclass
class HookDeliveries:
    by_hook: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(90_000_001)

    @staticmethod
    def key(repo: str, hook_id: int | str) -> str:
        return f"{repo.lower()}#{hook_id}"

    def record(self, hook: str, delivery: Delivery, status_code: int, at: float) -> int:
        """GitHub tried to send ``delivery`` to ``hook`` (``key(...)`` or ``APP_HOOK``) at
        ``at`` (epoch seconds) and got ``status_code``; the attempt's id."""
        with self._lock:
            attempts = self.by_hook.setdefault(hook, [])
            redelivery = any(a["guid"] == delivery.delivery for a in attempts)
            delivery_id = next(self._ids)
            stamp = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            attempts.append(
                {
                    "id": delivery_id,
                    "guid": delivery.delivery,
                    "delivered_at": stamp,
                    "redelivery": redelivery,
                    "duration": 0.05,
                    "status": "OK" if 200 <= status_code < 300 else "failed to connect",
                    "status_code": status_code,
                    "event": delivery.event,
                    "action": delivery.payload.get("action"),
                    "installation_id": None,
                    "repository_id": 186853002,
                    "throttled_at": None,
                    "request": {"headers": delivery.headers(), "payload": delivery.payload},
                    "response": {"headers": {}, "payload": None},
                }
            )
            attempts.sort(key=lambda a: (a["delivered_at"], a["id"]), reverse=True)
            return delivery_id

    def serve(self, path: str, query: dict[str, str], base: str) -> tuple[int, Any] | None:
        """The answer to ``GET path``, or None when the path is not a deliveries path."""
        if m := re.fullmatch(r"/repos/([^/]+/[^/]+)/hooks/(\d+)/deliveries(?:/(\d+))?", path):
            hook, one = self.key(m[1], m[2]), m[3]
        elif m := re.fullmatch(r"/app/hook/deliveries(?:/(\d+))?", path):
            hook, one = APP_HOOK, m[1]
        else:
            return None
        with self._lock:
            attempts = list(self.by_hook.get(hook, []))
        if one is not None:
            found = next((a for a in attempts if a["id"] == int(one)), None)
            if found is None:
                return 404, {"message": "Not Found"}
            return 200, {**found, "url": base + path}
        summary = ("request", "response")
        listed = [{k: v for k, v in a.items() if k not in summary} for a in attempts]
        start = int(query.get("cursor") or 0)
        size = int(query.get("per_page") or 30)
        page = listed[start : start + size]
        link = None
        if start + size < len(listed):
            link = f'<{base}{path}?per_page={size}&cursor={start + size}>; rel="next"'
        return 200, Paged(page, link)
