"""Immutable fields: say so when a change needs the object recreated, and recreate it.

Owns: recognising the API server's 422 "field is immutable" answer (a Job's template, a
Service's clusterIP, a Deployment's selector), the message that names the object, the
fields and the fix, and deleting an object and waiting until it is gone, so that the next
create starts from nothing (BeforeHookCreation, ``Replace=true``, Flux's ``force``).
Must not touch: deciding when to recreate (apply.py and hooks.py do), git, rendering.
"""

from __future__ import annotations

import re
import time
from typing import Any

from webhook.hooks import FLUX_FORCE, SYNC_OPTIONS
from webhook.kube.client import ApiError, Cluster, KubeError
from webhook.objects import ObjectRef

#: Seconds to wait for a deleted object to be gone before creating it again.
GONE_TIMEOUT = 60.0
#: How the API server's validation words an immutable field (most kinds; Service IPs).
IMMUTABLE = ("field is immutable", "may not change once set")
#: One cause in a 422 Status message: "spec.selector: Invalid value: ...".
_CAUSE = re.compile(r"([A-Za-z][\w.\[\]-]*): (?:Invalid value|Forbidden|Unsupported value)")


def immutable_fields(error: KubeError) -> list[str]:
    """The fields a 422 answer calls immutable (empty: the error is about something else)."""
    message = str(error)
    if not isinstance(error, ApiError) or error.status != 422:
        return []
    if not any(words in message for words in IMMUTABLE):
        return []
    causes = list(_CAUSE.finditer(message))
    ends = [c.start() for c in causes[1:]] + [len(message)]
    fields = [
        cause.group(1)
        for cause, end in zip(causes, ends, strict=True)
        if any(words in message[cause.end() : end] for words in IMMUTABLE)
    ]
    return fields or ["a field"]


def immutable_message(ref: ObjectRef, fields: list[str]) -> str:
    """What failed and how to fix it, without the server's dump of the object."""
    return (
        f"{ref}: {', '.join(fields)} cannot change in place (the API server answers "
        f'"field is immutable"); to let the deployer delete and recreate it, annotate it '
        f"with {SYNC_OPTIONS}: Replace=true (or {FLUX_FORCE}: enabled), or delete it by hand"
    )


def delete_and_wait(
    cluster: Cluster, resource: Any, ref: ObjectRef, uid: str, *, timeout: float = GONE_TIMEOUT
) -> None:
    """Delete the object whose uid is ``uid`` and return once no object of that uid remains."""
    cluster.delete(resource, ref.name, ref.namespace, preconditions={"uid": uid})
    deadline = time.monotonic() + timeout
    while True:
        live = cluster.get(resource, ref.name, ref.namespace)
        if live is None or (live.get("metadata") or {}).get("uid") != uid:
            return
        if time.monotonic() >= deadline:
            raise KubeError(f"{ref}: still there {timeout:g}s after its deletion")
        rv = (live.get("metadata") or {}).get("resourceVersion")
        for update in cluster.watch(
            resource,
            ref.name,
            ref.namespace,
            resource_version=rv,
            seconds=max(0.5, deadline - time.monotonic()),
        ):
            if update is None:
                return
        time.sleep(0.1)
