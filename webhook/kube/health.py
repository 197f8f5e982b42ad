"""Health of applied objects under kstatus' rules, and waiting until they are all Current.

Owns: one small pure function per kind (after kstatus, sigs.k8s.io/cli-utils/pkg/kstatus/
status ``core.go``/``generic.go``), a closed set of states, and the wait: watches and polls
that read objects through callables. Must not touch: the cluster client itself (reads come in as a
callable), git, rendering. Messages name the object: "Deployment web: 1/3 available, ...".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from webhook.app_options import HealthCheck
from webhook.kube import health_exprs
from webhook.objects import Manifest, ObjectRef


class Status(StrEnum):
    """kstatus' states that a sync cares about."""

    CURRENT = "Current"
    IN_PROGRESS = "InProgress"
    FAILED = "Failed"
    TERMINATING = "Terminating"
    NOT_FOUND = "NotFound"


@dataclass(frozen=True)
class Health:
    status: Status
    message: str


Verdict = tuple[Status, str]


def _int(obj: Manifest, *path: str, default: int = 0) -> int:
    value: Any = obj
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _conditions(obj: Manifest) -> dict[str, dict[str, Any]]:
    items = (obj.get("status") or {}).get("conditions") or []
    return {c["type"]: c for c in items if isinstance(c, dict) and isinstance(c.get("type"), str)}


def _is_true(conditions: dict[str, dict[str, Any]], kind: str) -> bool:
    return (conditions.get(kind) or {}).get("status") == "True"


def _generic(obj: Manifest) -> Verdict | None:
    """Checks every kind shares; None when they leave the verdict to the kind's rule."""
    meta = obj.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return Status.TERMINATING, "being deleted"
    status = obj.get("status") or {}
    if "observedGeneration" in status:
        observed, generation = (
            _int(obj, "status", "observedGeneration"),
            _int(obj, "metadata", "generation"),
        )
        if observed != generation:
            return Status.IN_PROGRESS, f"generation {generation} not yet observed (at {observed})"
    conditions = _conditions(obj)
    if _is_true(conditions, "Reconciling"):
        return (
            Status.IN_PROGRESS,
            f"reconciling: {conditions['Reconciling'].get('message', '')}".rstrip(": "),
        )
    if _is_true(conditions, "Stalled"):
        return Status.FAILED, f"stalled: {conditions['Stalled'].get('message', '')}".rstrip(": ")
    return None


def _deployment(obj: Manifest) -> Verdict:
    conditions = _conditions(obj)
    spec = _int(obj, "spec", "replicas", default=1)
    replicas = _int(obj, "status", "replicas")
    updated = _int(obj, "status", "updatedReplicas")
    ready = _int(obj, "status", "readyReplicas")
    available = _int(obj, "status", "availableReplicas")
    progressing = conditions.get("Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return Status.FAILED, f"{available}/{spec} available, ProgressDeadlineExceeded"
    if spec > replicas:
        return Status.IN_PROGRESS, f"{replicas}/{spec} replicas"
    if spec > updated:
        return Status.IN_PROGRESS, f"{updated}/{spec} updated"
    if replicas > spec:
        return Status.IN_PROGRESS, f"{replicas - spec} pending termination"
    if updated > available or spec > available:
        return Status.IN_PROGRESS, f"{available}/{spec} available"
    if spec > ready:
        return Status.IN_PROGRESS, f"{ready}/{spec} ready"
    if spec > 0 and not _is_true(conditions, "Available"):
        return Status.IN_PROGRESS, f"{available}/{spec} available, not yet Available"
    return Status.CURRENT, f"{available}/{spec} available"


def _statefulset(obj: Manifest) -> Verdict:
    spec = _int(obj, "spec", "replicas", default=1)
    replicas = _int(obj, "status", "replicas")
    ready = _int(obj, "status", "readyReplicas")
    updated = _int(obj, "status", "updatedReplicas")
    strategy = (obj.get("spec") or {}).get("updateStrategy") or {}
    if strategy.get("type") == "OnDelete":
        return Status.CURRENT, "OnDelete update strategy"
    if spec > replicas:
        return Status.IN_PROGRESS, f"{replicas}/{spec} replicas"
    if spec > ready:
        return Status.IN_PROGRESS, f"{ready}/{spec} ready"
    partition = _int(obj, "spec", "updateStrategy", "rollingUpdate", "partition")
    if updated < spec - partition:
        return Status.IN_PROGRESS, f"{updated}/{spec - partition} updated"
    status = obj.get("status") or {}
    if partition == 0 and status.get("currentRevision") != status.get("updateRevision"):
        return Status.IN_PROGRESS, "rolling update in progress"
    return Status.CURRENT, f"{ready}/{spec} ready"


def _daemonset(obj: Manifest) -> Verdict:
    status = obj.get("status") or {}
    if "desiredNumberScheduled" not in status:
        return Status.IN_PROGRESS, "not yet observed by its controller"
    desired = _int(obj, "status", "desiredNumberScheduled")
    for field, label in (
        ("currentNumberScheduled", "scheduled"),
        ("updatedNumberScheduled", "updated"),
        ("numberAvailable", "available"),
        ("numberReady", "ready"),
    ):
        have = _int(obj, "status", field)
        if desired > have:
            return Status.IN_PROGRESS, f"{have}/{desired} {label}"
    return Status.CURRENT, f"{desired}/{desired} ready"


def _job(obj: Manifest) -> Verdict:
    conditions = _conditions(obj)
    parallelism = _int(obj, "spec", "parallelism", default=1)
    completions = _int(obj, "spec", "completions", default=parallelism)
    succeeded, failed = _int(obj, "status", "succeeded"), _int(obj, "status", "failed")
    if _is_true(conditions, "Complete"):
        return Status.CURRENT, f"completed, {succeeded}/{completions} succeeded"
    if _is_true(conditions, "Failed"):
        reason = conditions["Failed"].get("reason") or "Failed"
        return Status.FAILED, f"failed, {failed} failed pods, {reason}"
    if not (obj.get("status") or {}).get("startTime"):
        return Status.IN_PROGRESS, "not started"
    active = _int(obj, "status", "active")
    return Status.CURRENT, f"running, {succeeded}/{completions} succeeded, {active} active"


def _pvc(obj: Manifest) -> Verdict:
    phase = (obj.get("status") or {}).get("phase") or "Pending"
    if phase != "Bound":
        return Status.IN_PROGRESS, f"not Bound (phase {phase})"
    return Status.CURRENT, "Bound"


def _service(obj: Manifest) -> Verdict:
    if (obj.get("spec") or {}).get("type") == "LoadBalancer":
        ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress")
        if not ingress:
            return Status.IN_PROGRESS, "waiting for a load balancer address"
    return Status.CURRENT, "ready"


def _pod(obj: Manifest) -> Verdict:
    status = obj.get("status") or {}
    phase = status.get("phase") or "Pending"
    if phase == "Succeeded":
        return Status.CURRENT, "completed"
    if phase == "Failed":
        return Status.FAILED, f"failed: {status.get('reason') or status.get('message') or 'Failed'}"
    for container in status.get("containerStatuses") or []:
        waiting = ((container or {}).get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull"):
            return Status.FAILED, f"container {container.get('name')}: {waiting['reason']}"
    conditions = _conditions(obj)
    if _is_true(conditions, "Ready"):
        return Status.CURRENT, "ready"
    scheduled = conditions.get("PodScheduled") or {}
    if scheduled.get("status") == "False":
        return Status.IN_PROGRESS, f"not scheduled: {scheduled.get('reason', 'Pending')}"
    return Status.IN_PROGRESS, f"{phase}, not ready"


def _crd(obj: Manifest) -> Verdict:
    if _is_true(_conditions(obj), "Established"):
        return Status.CURRENT, "established"
    return Status.IN_PROGRESS, "not yet established"


def _other(obj: Manifest) -> Verdict:
    conditions = _conditions(obj)
    ready = conditions.get("Ready")
    if ready is not None and ready.get("status") != "True":
        detail = ready.get("reason") or ready.get("message") or ready.get("status")
        return Status.IN_PROGRESS, f"not Ready ({detail})"
    return Status.CURRENT, "ready" if ready else "applied"


#: (group, kind) -> rule. Kinds not listed get the generic conditions only.
RULES: dict[tuple[str, str], Callable[[Manifest], Verdict]] = {
    ("apps", "Deployment"): _deployment,
    ("apps", "StatefulSet"): _statefulset,
    ("apps", "DaemonSet"): _daemonset,
    ("batch", "Job"): _job,
    ("", "PersistentVolumeClaim"): _pvc,
    ("", "Service"): _service,
    ("", "Pod"): _pod,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _crd,
}


def assess(ref: ObjectRef, obj: Manifest | None, checks: Sequence[HealthCheck] = ()) -> Health:
    """The kstatus verdict for one live object (None: it does not exist); an app's CEL
    rule for the object's kind (``checks``) replaces the kind's own rule."""
    label = f"{ref.kind} {ref.name}"
    if obj is None:
        return Health(Status.NOT_FOUND, f"{label}: not found")
    verdict = _generic(obj)
    if verdict is None and (check := health_exprs.rule_for(obj, checks)) is not None:
        state, message = health_exprs.evaluate(check, obj)
        verdict = Status(state), message
    verdict = verdict or RULES.get((ref.group, ref.kind), _other)(obj)
    return Health(verdict[0], f"{label}: {verdict[1]}")


#: Watches one object: given its last seen state and the seconds left, yields each new state
#: (None once deleted) until the time is up. Ends early if the watch cannot go on.
Watch = Callable[[ObjectRef, Manifest | None, float], Iterator[Manifest | None]]


def wait_until_current(
    refs: Iterable[ObjectRef],
    fetch: Callable[[ObjectRef], Manifest | None],
    *,
    timeout: float,
    watch: Watch | None = None,
    interval: float = 0.1,
    fast_interval: float = 0.25,
    fast_for: float = 5.0,
    max_interval: float = 2.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    checks: Sequence[HealthCheck] = (),
    known: Mapping[ObjectRef, Manifest] | None = None,
) -> dict[ObjectRef, Health]:
    """Wait until every object is Current, one has Failed, or ``timeout`` seconds pass.

    ``known`` holds objects as the caller last saw them (the apply's answers): an object
    Current there is not read again, so ConfigMaps and their like cost no request. With
    ``watch``, any other is watched from the state known (its ``resourceVersion``: the watch
    replays every change since), not read first; without it, read and polled as usual.

    With ``watch``, each object still in progress is watched in turn, so its end is seen the
    moment it happens (the others have usually settled by the time their turn comes, and a
    sync must wait for the slowest anyway). Objects a watch could not follow are polled.
    Returns the last verdict per object; the caller decides what a non-Current one means.
    """
    deadline = clock() + timeout
    refs = list(refs)
    if watch is None:
        return _poll(
            refs,
            fetch,
            deadline,
            interval,
            fast_interval,
            fast_for,
            max_interval,
            clock,
            sleep,
            checks,
        )
    verdicts: dict[ObjectRef, Health] = {}
    known = known or {}
    for ref in refs:
        seen = known.get(ref)
        if seen is None:
            seen = fetch(ref)
        verdict = assess(ref, seen, checks)
        if verdict.status not in _SETTLED and clock() < deadline:
            for update in watch(ref, seen, deadline - clock()):
                verdict = assess(ref, update, checks)
                if verdict.status in _SETTLED or clock() >= deadline:
                    break
        verdicts[ref] = verdict
        if verdict.status is Status.FAILED:
            return verdicts | {r: assess(r, fetch(r), checks) for r in refs if r not in verdicts}
    unsettled = [r for r in refs if verdicts[r].status is not Status.CURRENT]
    if unsettled and clock() < deadline:
        verdicts |= _poll(
            unsettled,
            fetch,
            deadline,
            interval,
            fast_interval,
            fast_for,
            max_interval,
            clock,
            sleep,
            checks,
        )
    return verdicts


_SETTLED = (Status.CURRENT, Status.FAILED)


def _poll(
    refs: list[ObjectRef],
    fetch: Callable[[ObjectRef], Manifest | None],
    deadline: float,
    interval: float,
    fast_interval: float,
    fast_for: float,
    max_interval: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    checks: Sequence[HealthCheck] = (),
) -> dict[ObjectRef, Health]:
    """Polls come at most ``fast_interval`` apart for the first ``fast_for`` seconds, since
    most rollouts settle within a few seconds; then they back off to ``max_interval``, so a
    slow rollout costs one read per pending object every two seconds."""
    started = clock()
    pending = list(refs)
    verdicts: dict[ObjectRef, Health] = {}
    while True:
        for ref in pending:
            verdicts[ref] = assess(ref, fetch(ref), checks)
        pending = [r for r in pending if verdicts[r].status is not Status.CURRENT]
        failed = any(verdicts[r].status is Status.FAILED for r in pending)
        if not pending or failed or clock() >= deadline:
            return verdicts
        sleep(min(interval, max(0.0, deadline - clock())))
        cap = fast_interval if clock() - started < fast_for else max_interval
        interval = min(interval * 2, cap)
