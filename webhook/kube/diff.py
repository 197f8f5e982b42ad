"""Compare live and desired objects: the no-op test, and unified diffs with secrets redacted.

Owns: dropping server-owned noise (managedFields, resourceVersion, generation, status...)
before comparing, and rendering one unified diff per object. Secret values (``data``,
``stringData``, kubectl's last-applied annotation, Secrets inside a ``kind: List``) never
appear in a diff: each value is ``<redacted>``, changed or not, so a diff is no oracle for
a guessed value; keys still show. Must not touch: the cluster client.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import difflib
import json
import re

import yaml

from webhook.objects import Manifest, ObjectRef

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
    """A Secret of any group: a look-alike custom kind is treated as one, never shown."""
    return isinstance(obj, dict) and obj.get("kind") == "Secret"


def _scrub(obj: Manifest, secret: bool) -> Manifest:
    """A copy of ``obj`` with every value that may hold a Secret's data replaced.

    ``secret``: the object is a Secret, or stands in a diff against one (a kind changed
    between live and desired): each key of ``data`` and ``stringData`` keeps its name (an
    added or removed key still shows) and gets the same ``<redacted>`` whatever its value.
    kubectl's last-applied annotation repeats the whole object, so it is never shown; a
    ``kind: List`` is scrubbed item by item.
    """
    copied = copy.deepcopy(obj)
    if secret:
        for field in ("data", "stringData"):
            if isinstance(copied.get(field), dict):
                copied[field] = dict.fromkeys(map(str, copied[field]), REDACTED)
            elif field in copied:
                copied[field] = REDACTED
    annotations = (copied.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict) and LAST_APPLIED in annotations:
        annotations[LAST_APPLIED] = REDACTED
    if isinstance(copied.get("items"), list):
        copied["items"] = [
            _scrub(item, secret or _is_secret(item)) if isinstance(item, dict) else item
            for item in copied["items"]
        ]
    return copied


def redact_pair(
    live: Manifest | None, desired: Manifest | None
) -> tuple[Manifest | None, Manifest | None]:
    """Copies of both with Secret values replaced by ``<redacted>``.

    A changed value and an unchanged one look the same: a diff that marked changes would
    let a PR author test a guessed value against the live Secret.
    """
    secret = _is_secret(live) or _is_secret(desired)
    return (
        None if live is None else _scrub(live, secret),
        None if desired is None else _scrub(desired, secret),
    )


def redact(obj: Manifest) -> Manifest:
    """A copy safe to log or show: Secret values replaced."""
    return _scrub(obj, _is_secret(obj))


#: Server-side apply refuses a value of the wrong type by quoting it (``.data.pw: expected
#: string, got &value.valueUnstructured{Value:...}``); Go may print it over several lines.
_QUOTED_VALUE = re.compile(r"(expected [^,\n]*), got .*", re.DOTALL)
#: Shorter values are not hidden where they appear in a message (they are guessed anyway,
#: and hiding every "1" would garble the message).
MIN_HIDDEN = 4


def _leaves(value: object) -> list[str]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [] if value is None or isinstance(value, bool) else [str(value)]


def _quotable(obj: Manifest) -> set[str]:
    """Each value of a Secret's ``data`` and ``stringData`` as a message may quote it: as
    written, ``data``'s decoded from base64, and either escaped as in JSON (or Go's ``%q``)."""
    found = set()
    for field in ("data", "stringData"):
        for leaf in _leaves(obj.get(field)):
            found.add(leaf)
            if field == "data":
                with contextlib.suppress(binascii.Error, UnicodeDecodeError, ValueError):
                    found.add(base64.b64decode(leaf, validate=True).decode())
    found |= {json.dumps(v)[1:-1] for v in found}
    return {v for v in found if len(v) >= MIN_HIDDEN}


def redact_message(message: str, body: Manifest | None) -> str:
    """The API server's (or an admission webhook's) message about writing ``body``, with every
    value of a Secret it quotes replaced: its path and reason stay. Other kinds: as written."""
    if not _is_secret(body) or body is None:
        return message
    message = _QUOTED_VALUE.sub(rf"\1, got {REDACTED}", message)
    for value in sorted(_quotable(body), key=len, reverse=True):
        message = message.replace(value, REDACTED)
    return message


def with_live_values(desired: Manifest, live: Manifest | None) -> Manifest:
    """A preview's copy of a Secret: each key the live Secret has takes its live value (and
    leaves ``stringData``), keys it lacks keep the commit's. Its dry run then neither fails
    (``immutable``) nor conflicts (another manager's value) on a changed value: it answers
    no guess of one. Anything else, or a shape the API server refuses anyway: as written."""
    live_data = (live or {}).get("data")
    data, strings = desired.get("data") or {}, desired.get("stringData") or {}
    if not _is_secret(desired) or not isinstance(live_data, dict):
        return desired
    if not isinstance(data, dict) or not isinstance(strings, dict):
        return desired
    out = copy.deepcopy(desired)
    data, strings = dict(data), dict(strings)
    for key in [*data, *strings]:
        if key in live_data:
            data[key] = live_data[key]
            strings.pop(key, None)
    out.pop("stringData", None)
    out.pop("data", None)
    if data:
        out["data"] = data
    if strings:
        out["stringData"] = strings
    return out


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
