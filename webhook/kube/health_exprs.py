"""Per-app CEL health rules for kinds that do not follow kstatus (Flux's ``healthCheckExprs``).

Owns: choosing the rule for an object (apiVersion and kind) and evaluating it the way Flux
does: ``inProgress`` first, then ``failed``, then ``current``; none true means InProgress.
The object's top-level fields (``apiVersion``, ``kind``, ``metadata``, ``spec``, ``status``)
are the expression's variables. An expression that cannot be evaluated on this object (a
field not there yet, a type mismatch) gives InProgress with the reason, so the sync waits and
its timeout message says which expression failed and why.
Must not touch: the cluster, the generic kstatus rules (health.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from webhook.app_options import HealthCheck
from webhook.objects import Manifest

#: Top-level fields every object may have; absent ones are null to the expressions.
_VARIABLES = ("apiVersion", "kind", "metadata", "spec", "status")


@lru_cache(maxsize=256)
def _programs(check: HealthCheck) -> dict[str, Any]:
    return check.programs()


def rule_for(obj: Manifest, checks: Sequence[HealthCheck]) -> HealthCheck | None:
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    return next((c for c in checks if c.api_version == api_version and c.kind == kind), None)


def evaluate(check: HealthCheck, obj: Manifest) -> tuple[str, str]:
    """(state, message): state is ``Current``, ``InProgress`` or ``Failed``."""
    variables = {name: obj.get(name) for name in _VARIABLES}
    variables.update({k: v for k, v in obj.items() if isinstance(k, str)})
    for state, program in _programs(check).items():
        try:
            result = program.execute(variables)
        except Exception as exc:  # the library raises KeyError, TypeError, ValueError, ...
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return "InProgress", f"health check {state} ({program.source!r}) failed: {detail}"
        if result is True:
            return state, f"health check: {_WORDS[state]} ({program.source})"
        if not isinstance(result, bool):
            return (
                "InProgress",
                f"health check {state} ({program.source!r}) gave {type(result).__name__}, "
                "not a bool",
            )
    return "InProgress", "health check: no expression is true yet"


_WORDS = {"Current": "current", "InProgress": "in progress", "Failed": "failed"}
