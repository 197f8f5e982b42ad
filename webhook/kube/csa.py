"""Field ownership left by client-side ``kubectl apply``, moved to the deployer's apply.

Owns: the JSON patch that hands the fields a live object's ``kubectl-client-side-apply``
manager owns (``operation: Update``) to the deployer's field manager as ``operation: Apply``,
as ``kubectl apply --server-side`` does before it applies (client-go ``util/csaupgrade``).
Objects last written by ``kubectl apply`` or by Argo CD's default client-side sync carry that
manager; without the move, a field git no longer has stays on an adopted object forever,
because a server-side apply removes only fields its own manager owns. ``kubectl apply
--server-side`` removes it. Plain data in, plain data out.
Must not touch: the cluster (apply.py sends the patch), ownership decisions (applyset.py).
"""

from __future__ import annotations

import copy
from typing import Any

from webhook.objects import Manifest

#: kubectl's manager for client-side apply; the only one kubectl's upgrade moves.
CSA_MANAGER = "kubectl-client-side-apply"


def _union(into: dict[str, Any], other: dict[str, Any]) -> None:
    """Union of two ``FieldsV1`` tries (nested JSON objects whose leaves are ``{}``)."""
    for key, value in other.items():
        mine = into.get(key)
        if isinstance(mine, dict) and isinstance(value, dict):
            _union(mine, value)
        else:
            into[key] = copy.deepcopy(value)


def _top_level(entry: Any, manager: str, operation: str) -> bool:
    return (
        isinstance(entry, dict)
        and entry.get("manager") == manager
        and entry.get("operation") == operation
        and not entry.get("subresource")
    )


def upgrade_patch(live: Manifest, manager: str) -> list[dict[str, Any]] | None:
    """The JSON patch moving ``kubectl-client-side-apply``'s fields to ``manager``'s Apply
    entry, guarded by the live ``resourceVersion``; None when there is nothing to move."""
    meta = live.get("metadata") or {}
    entries = meta.get("managedFields") or []
    csa = [e for e in entries if _top_level(e, CSA_MANAGER, "Update")]
    if not csa or not meta.get("resourceVersion"):
        return None
    ours = [e for e in entries if _top_level(e, manager, "Apply")]
    fields: dict[str, Any] = {}
    for entry in [*ours, *csa]:
        if isinstance(entry.get("fieldsV1"), dict):
            _union(fields, entry["fieldsV1"])
    base = ours[0] if ours else csa[0]
    merged = {
        "manager": manager,
        "operation": "Apply",
        "apiVersion": base.get("apiVersion"),
        "time": base.get("time"),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }
    merged = {k: v for k, v in merged.items() if v is not None}
    rest = [e for e in entries if not any(e is x for x in [*ours, *csa])]
    return [
        {"op": "test", "path": "/metadata/resourceVersion", "value": meta["resourceVersion"]},
        {"op": "replace", "path": "/metadata/managedFields", "value": [*rest, merged]},
    ]
