"""Compare live and desired objects: the no-op test, and unified diffs with secrets redacted.

Owns: dropping server-owned noise (managedFields, resourceVersion, generation, status...)
before comparing, and rendering one unified diff per object. Secret values (``data``,
``stringData``, kubectl's last-applied annotation) never appear in a diff: each value is
replaced by a marker that only says whether it changed. Must not touch: the cluster client.
"""

from __future__ import annotations

import copy
import difflib

import yaml

from webhook.render import Manifest, ObjectRef

#: metadata fields the server owns; a difference in them is not a difference we caused.
SERVER_METADATA = (
    "managedFields",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "uid",
    "selfLink",
)
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
REDACTED = "<redacted>"
REDACTED_CHANGED = "<redacted, changed>"


def normalize(obj: Manifest) -> Manifest:
    """A copy without server-owned metadata and without status."""
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for key in SERVER_METADATA:
            meta.pop(key, None)
        if not meta.get("annotations"):
            meta.pop("annotations", None)
    return out


def same(live: Manifest | None, desired: Manifest) -> bool:
    """Whether applying ``desired`` (a dry-run result) would leave ``live`` as it is."""
    return live is not None and normalize(live) == normalize(desired)


def _is_secret(obj: Manifest | None) -> bool:
    return obj is not None and obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1"


def redact_pair(
    live: Manifest | None, desired: Manifest | None
) -> tuple[Manifest | None, Manifest | None]:
    """Copies of both with Secret values replaced by markers (changed values marked so)."""
    if not (_is_secret(live) or _is_secret(desired)):
        return live, desired
    live_values = _values(live)
    desired_values = _values(desired)
    out: list[Manifest | None] = []
    for obj, own, other in ((live, live_values, desired_values), (desired, desired_values, None)):
        if obj is None:
            out.append(None)
            continue
        copied = copy.deepcopy(obj)
        for field in ("data", "stringData"):
            if isinstance(copied.get(field), dict):
                copied[field] = {
                    key: (
                        REDACTED
                        if other is not None or live_values.get(key) == own.get(key)
                        else REDACTED_CHANGED
                    )
                    for key in copied[field]
                }
        annotations = (copied.get("metadata") or {}).get("annotations") or {}
        if LAST_APPLIED in annotations:
            annotations[LAST_APPLIED] = REDACTED
        out.append(copied)
    return out[0], out[1]


def _values(obj: Manifest | None) -> dict[str, object]:
    if obj is None:
        return {}
    values: dict[str, object] = {}
    for field in ("data", "stringData"):
        if isinstance(obj.get(field), dict):
            values.update(obj[field])
    return values


def redact(obj: Manifest) -> Manifest:
    """A copy safe to log or show: Secret values replaced."""
    _, redacted = redact_pair(obj, obj)
    assert redacted is not None
    return redacted


def _lines(obj: Manifest | None) -> list[str]:
    if obj is None:
        return []
    text = yaml.safe_dump(normalize(obj), sort_keys=True, default_flow_style=False)
    return text.splitlines(keepends=True)


def unified(ref: ObjectRef, live: Manifest | None, desired: Manifest | None) -> str:
    """A unified diff of one object, live against desired; empty when they are the same."""
    live_r, desired_r = redact_pair(live, desired)
    name = str(ref).replace(" ", "/")
    lines = difflib.unified_diff(
        _lines(live_r),
        _lines(desired_r),
        fromfile=f"live/{name}" if live is not None else "/dev/null",
        tofile=f"desired/{name}" if desired is not None else "/dev/null",
    )
    return "".join(lines)
