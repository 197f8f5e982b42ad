"""What the API server told watchers, in the order it happened: for tests of sync order.

Timestamps prove no order (clocks, second resolution). Every write to the test control
plane's etcd gets the next revision, and an object's resourceVersion is that revision, so
the events of several watches, sorted by resourceVersion, are the order of the writes
themselves: "Job migrate became Complete before Deployment web was created".
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from kubernetes import client
from kubernetes.dynamic import DynamicClient


@dataclass(frozen=True)
class Event:
    rv: int
    type: str
    kind: str
    name: str
    uid: str
    object: dict[str, Any]

    def condition(self, kind: str) -> bool:
        items = (self.object.get("status") or {}).get("conditions") or []
        return any(c.get("type") == kind and c.get("status") == "True" for c in items)

    def __str__(self) -> str:
        return f"{self.rv} {self.type} {self.kind} {self.name}"


class Recorder:
    """Watches ``kinds`` ((apiVersion, kind) pairs) in ``namespace`` while the block runs."""

    def __init__(self, api: client.ApiClient, namespace: str, kinds: list[tuple[str, str]]) -> None:
        self.dyn = DynamicClient(api)
        self.namespace = namespace
        self.kinds = kinds
        self.events: list[Event] = []
        self._lock = threading.Lock()
        self._stop_at: float | None = None
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> Recorder:
        for api_version, kind in self.kinds:
            resource = self.dyn.resources.get(api_version=api_version, kind=kind)
            rv = resource.get(namespace=self.namespace).metadata.resourceVersion
            thread = threading.Thread(target=self._watch, args=(resource, rv), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _watch(self, resource: Any, rv: str) -> None:
        while True:
            started = time.monotonic()
            for event in self.dyn.watch(
                resource, namespace=self.namespace, resource_version=rv, timeout=1
            ):
                raw = event["raw_object"]
                meta = raw.get("metadata") or {}
                if event["type"] not in ("ADDED", "MODIFIED", "DELETED"):
                    continue
                rv = meta["resourceVersion"]
                with self._lock:
                    self.events.append(
                        Event(
                            int(rv),
                            event["type"],
                            str(raw.get("kind")),
                            str(meta.get("name")),
                            str(meta.get("uid")),
                            raw,
                        )
                    )
            # Done once a whole watch began after the block ended: it saw everything.
            if self._stop_at is not None and started > self._stop_at:
                return

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop_at = time.monotonic()
        for thread in self._threads:
            thread.join(timeout=30)

    def ordered(self) -> list[Event]:
        with self._lock:
            return sorted(self.events, key=lambda e: e.rv)

    def first(self, kind: str, name_prefix: str, *, type: str = "", condition: str = "") -> Event:
        """The first event of an object whose name starts with ``name_prefix``."""
        for event in self.ordered():
            if event.kind != kind or not event.name.startswith(name_prefix):
                continue
            if type and event.type != type:
                continue
            if condition and not event.condition(condition):
                continue
            return event
        seen = "\n".join(str(e) for e in self.ordered())
        raise AssertionError(f"no {type or 'event'} of {kind} {name_prefix}* {condition}:\n{seen}")
