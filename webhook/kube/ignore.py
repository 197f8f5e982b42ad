"""``ignore_differences``: fields the app leaves to someone else, as Argo CD's
``ignoreDifferences`` with ``RespectIgnoreDifferences``.

For a desired object that matches a rule and already exists, each ignored field takes the
live value (or is dropped when the live object has none), so the apply neither changes it
nor takes it over from another manager, and the dry-run plan (hence drift and diffs) sees
no difference there. A new object is created as the manifest says. Fields are named by
JSON pointers (``/spec/replicas``) or by field managers (every field ``managedFields``
says they own, e.g. an autoscaler's ``spec.replicas``).
Must not touch: the cluster client (live objects come in as data), git, rendering.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Sequence
from typing import Any

from webhook.app_options import IgnoreDifference
from webhook.objects import Manifest, ObjectRef

#: A path into an object: mapping keys (str), list indices (int), or list items by key.
Path = tuple[Any, ...]


def matching(ref: ObjectRef, rules: Sequence[IgnoreDifference]) -> list[IgnoreDifference]:
    return [r for r in rules if r.matches(ref.group, ref.kind, ref.namespace, ref.name)]


def _pointer_path(pointer: str) -> Path:
    parts = pointer.split("/")[1:]
    out: list[Any] = []
    for part in parts:
        token = part.replace("~1", "/").replace("~0", "~")
        out.append(int(token) if token.isdigit() else token)
    return tuple(out)


def _item_key(selector: str) -> dict[str, Any] | None:
    try:
        key = json.loads(selector)
    except ValueError:
        return None
    return key if isinstance(key, dict) else None


def _fields_paths(fields: Any, prefix: Path = ()) -> Iterable[Path]:
    """Leaf paths of a ``managedFields[].fieldsV1`` tree (``f:`` keys, ``k:`` list items)."""
    if not isinstance(fields, dict):
        return
    children = {k: v for k, v in fields.items() if k != "."}
    if not children:
        yield prefix
        return
    for key, sub in children.items():
        if key.startswith("f:"):
            yield from _fields_paths(sub, (*prefix, key[2:]))
        elif key.startswith("k:") and (item := _item_key(key[2:])) is not None:
            yield from _fields_paths(sub, (*prefix, item))
        elif prefix:
            yield prefix  # ``v:`` set members and ``i:`` indices: the whole list is theirs


def _managed_paths(live: Manifest, managers: Sequence[str]) -> list[Path]:
    out: list[Path] = []
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if isinstance(entry, dict) and entry.get("manager") in managers:
            out.extend(p for p in _fields_paths(entry.get("fieldsV1")) if p)
    return out


def _step(node: Any, key: Any) -> tuple[bool, Any]:
    """Child ``key`` of ``node``: (found, value). A dict key selects a list item by its
    key fields, as server-side apply's ``k:`` does."""
    if isinstance(key, dict) and isinstance(node, list):
        for item in node:
            if isinstance(item, dict) and all(item.get(k) == v for k, v in key.items()):
                return True, item
        return False, None
    if isinstance(key, int) and isinstance(node, list):
        return (True, node[key]) if 0 <= key < len(node) else (False, None)
    if isinstance(key, str) and isinstance(node, dict) and key in node:
        return True, node[key]
    return False, None


def _get(obj: Any, path: Path) -> tuple[bool, Any]:
    node = obj
    for key in path:
        found, node = _step(node, key)
        if not found:
            return False, None
    return True, node


def _set(obj: Any, path: Path, value: Any, present: bool) -> None:
    """Make ``obj`` hold ``value`` at ``path`` (or not hold it, when not ``present``),
    only where the desired object has the field's parent: nothing new is invented."""
    found, parent = _get(obj, path[:-1])
    if not found:
        return
    last = path[-1]
    if isinstance(parent, dict) and isinstance(last, str):
        if present:
            parent[last] = copy.deepcopy(value)
        else:
            parent.pop(last, None)
    elif isinstance(parent, list):
        found, item = _step(parent, last)
        if not found:
            return
        index = next(i for i, x in enumerate(parent) if x is item)
        if present:
            parent[index] = copy.deepcopy(value)
        else:
            del parent[index]


def respect(
    desired: Manifest, live: Manifest | None, rules: Sequence[IgnoreDifference]
) -> Manifest:
    """``desired`` with the rules' fields as they are live. Unchanged for a new object."""
    if live is None or not rules:
        return desired
    out = copy.deepcopy(desired)
    paths: list[Path] = []
    for rule in rules:
        paths += [_pointer_path(p) for p in rule.json_pointers]
        paths += _managed_paths(live, rule.managed_fields_managers)
    for path in paths:
        if path and path[0] not in ("apiVersion", "kind") and path[:2] != ("metadata", "name"):
            present, value = _get(live, path)
            _set(out, path, value, present)
    return out
