"""What a client really sent the test control plane, read from the API server's audit log.

A resourceVersion that stays the same proves little: the API server leaves it unchanged when
a server-side apply sends identical content. The audit log (written by scripts/test-cluster,
one JSON line per request at the Metadata level) shows every request itself: verb, resource,
name, user agent and whether it was a dry run.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclass(frozen=True)
class Request:
    verb: str
    resource: str
    namespace: str | None
    name: str | None
    user_agent: str
    dry_run: bool

    @property
    def write(self) -> bool:
        """A request that changed (or would have changed) the cluster, dry runs excluded."""
        return self.verb in WRITE_VERBS and not self.dry_run


def _request(event: dict[str, Any]) -> Request:
    ref = event.get("objectRef") or {}
    return Request(
        verb=str(event.get("verb", "")),
        resource=str(ref.get("resource", "")),
        namespace=ref.get("namespace"),
        name=ref.get("name"),
        user_agent=str(event.get("userAgent", "")),
        dry_run="dryRun=All" in str(event.get("requestURI", "")),
    )


class AuditLog:
    """The audit log of one control plane; ``mark()`` then ``since(mark)`` brackets an action."""

    def __init__(self, path: Path, kubeconfig: Path) -> None:
        self.path = path
        self.kubeconfig = kubeconfig

    def mark(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def _sentinel(self) -> str:
        """Send one request of our own: once it is in the log, everything before it is too."""
        name = f"audit-sentinel-{uuid.uuid4().hex[:10]}"
        api = config.new_client_from_config(config_file=str(self.kubeconfig))
        try:
            api.user_agent = "audit-sentinel"
            try:
                client.CoreV1Api(api).read_namespaced_config_map(name, "default")
            except client.ApiException as exc:
                if exc.status != 404:
                    raise
        finally:
            api.close()
        return name

    def so_far(self, mark: int, *, user_agent: str = "webhook-deployer") -> list[Request]:
        """Requests completed after ``mark`` that have reached the log by now: no sentinel,
        so a later request may be missing; for waiting until one has happened."""
        with self.path.open("rb") as handle:
            handle.seek(mark)
            lines = handle.read().splitlines()
        events = []
        for line in lines:
            with contextlib.suppress(ValueError):  # a line still being written
                events.append(json.loads(line))
        return [
            _request(e)
            for e in events
            if e.get("stage") == "ResponseComplete"
            and str(e.get("userAgent", "")).startswith(user_agent)
        ]

    def since(self, mark: int, *, user_agent: str = "webhook-deployer") -> list[Request]:
        """Requests completed after ``mark`` whose user agent starts with ``user_agent``."""
        sentinel = self._sentinel()
        deadline = time.monotonic() + 10
        while True:
            with self.path.open("rb") as handle:
                handle.seek(mark)
                events = [json.loads(line) for line in handle.read().splitlines() if line]
            done = [e for e in events if e.get("stage") == "ResponseComplete"]
            if any((e.get("objectRef") or {}).get("name") == sentinel for e in done):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"{sentinel} never reached the audit log {self.path}")
            time.sleep(0.05)
        return [_request(e) for e in done if str(e.get("userAgent", "")).startswith(user_agent)]
