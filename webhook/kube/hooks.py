"""Run one sync hook on the cluster: create it, wait until it is done, delete it by policy.

Owns: the hook's own label (``webhook-deployer.io/hook-of=<ApplySet id>``, in place of the
ApplySet's member label: hooks are not part of the inventory and are never pruned), the
server-side dry run of a hook (a create with ``generateName``, so that an existing hook of
the same name does not get in the way), BeforeHookCreation (the previous object of the same
name is deleted, and gone, before the new one is created), waiting for a Job to complete (a
Pod to succeed, any other kind to be Current), the reason a failed Job's Pod gave, and the
HookSucceeded / HookFailed deletions (HookSucceeded's once the caller says the hook's whole
phase succeeded: ``Succeeded``). A live object of the hook's name that is neither a hook
nor a member of this app is never deleted or written: the hook fails instead.
Must not touch: the order hooks run in (phases.py), git, rendering.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, replace
from typing import Any

from webhook.hooks import HOOK_OF, Hook, Phase, Policy
from webhook.kube import health
from webhook.kube.applyset import PART_OF, labels_of
from webhook.kube.client import Cluster, KubeError
from webhook.kube.recreate import delete_and_wait, immutable_fields, immutable_message
from webhook.objects import Manifest, ObjectRef
from webhook.result import HookRun
from webhook.text import cut

#: Bound on a Pod's own words in a hook's failure message.
MAX_REASON = 300


def body_for(hook: Hook, applyset_id: str) -> Manifest:
    """The hook as sent: labelled as this app's hook, never as an ApplySet member."""
    body = copy.deepcopy(hook.body)
    labels = body["metadata"].setdefault("labels", {})
    labels.pop(PART_OF, None)
    labels[HOOK_OF] = applyset_id
    return body


def dry_run(cluster: Cluster, hook: Hook, applyset_id: str) -> str | None:
    """Validate the hook with a dry-run create; the error, or None when it would pass."""
    body = body_for(hook, applyset_id)
    meta = body["metadata"]
    if name := meta.pop("name", None):
        meta["generateName"] = f"{str(name)[:52]}-"
    try:
        cluster.create(cluster.resource(body["apiVersion"], hook.ref.kind), body, dry_run=True)
    except KubeError as exc:
        return f"hook {hook.label}: {exc}"
    return None


def _job_failure(cluster: Cluster, job: Manifest, ref: ObjectRef) -> str:
    """Why a Job failed: its Failed condition, and what its failed Pods said."""
    conditions = {
        c.get("type"): c
        for c in (job.get("status") or {}).get("conditions") or []
        if isinstance(c, dict)
    }
    failed = conditions.get("Failed") or {}
    why = [f"{ref} failed: {failed.get('reason') or 'Failed'}"]
    if failed.get("message"):
        why[0] += f" ({failed['message']})"
    uid = (job.get("metadata") or {}).get("uid")
    try:
        pods = cluster.list(
            cluster.resource("v1", "Pod"),
            namespace=ref.namespace,
            label_selector=f"batch.kubernetes.io/controller-uid={uid}",
        )
    except KubeError as exc:  # e.g. an app's service account may not list Pods
        return f"{why[0]}; its pods could not be read: {exc}"
    for pod in pods:
        status = pod.get("status") or {}
        if status.get("phase") != "Failed":
            continue
        name = (pod.get("metadata") or {}).get("name")
        said = [str(status[k]) for k in ("reason", "message") if status.get(k)]
        for container in status.get("containerStatuses") or []:
            ended = ((container or {}).get("state") or {}).get("terminated") or {}
            if ended.get("exitCode"):
                words = ", ".join(
                    str(part)
                    for part in (ended.get("reason"), f"exit code {ended['exitCode']}")
                    if part
                )
                message = f": {ended['message']}" if ended.get("message") else ""
                said.append(f"container {container.get('name')} {words}{message}")
        if said:
            why.append(f"pod {name}: {cut('; '.join(said), MAX_REASON)}")
            break
    return "; ".join(why)


def _verdict(ref: ObjectRef, obj: Manifest | None) -> bool | None:
    """True: done; False: failed; None: still running."""
    if obj is None:
        return False
    if (ref.group, ref.kind) == ("batch", "Job"):
        conditions = (obj.get("status") or {}).get("conditions") or []
        done = {c.get("type") for c in conditions if c.get("status") == "True"}
        return True if "Complete" in done else (False if "Failed" in done else None)
    if (ref.group, ref.kind) == ("", "Pod"):
        phase = (obj.get("status") or {}).get("phase")
        return True if phase == "Succeeded" else (False if phase == "Failed" else None)
    status = health.assess(ref, obj).status
    if status is health.Status.FAILED:
        return False
    return True if status is health.Status.CURRENT else None


def _wait(cluster: Cluster, resource: Any, ref: ObjectRef, timeout: float) -> tuple[bool, str]:
    """Wait until the hook is done or failed, watching it; (succeeded, message)."""
    deadline = time.monotonic() + timeout
    seen = cluster.get(resource, ref.name, ref.namespace)
    while True:
        verdict = _verdict(ref, seen)
        if verdict is None and time.monotonic() < deadline:
            rv = ((seen or {}).get("metadata") or {}).get("resourceVersion")
            for update in cluster.watch(
                resource,
                ref.name,
                ref.namespace,
                resource_version=rv,
                seconds=max(0.5, deadline - time.monotonic()),
            ):
                seen = update
                verdict = _verdict(ref, seen)
                if verdict is not None:
                    break
        if verdict is True:
            return True, f"{ref}: {health.assess(ref, seen).message.partition(': ')[2]}"
        if verdict is False:
            if seen is None:
                return False, f"{ref}: deleted before it finished"
            if ref.kind == "Job":
                return False, _job_failure(cluster, seen, ref)
            return False, health.assess(ref, seen).message
        if time.monotonic() >= deadline:
            last = health.assess(ref, seen).message
            return False, f"{ref}: not done after {timeout:g}s ({last})"
        time.sleep(0.1)
        seen = cluster.get(resource, ref.name, ref.namespace)


@dataclass(frozen=True)
class Succeeded:
    """A hook that succeeded under HookSucceeded, deleted only once every hook of its phase
    has: Helm deletes an event's succeeded hooks after its last hook ran, Argo CD at the end
    of the sync, so a Job hook still finds the ServiceAccount hook that ran before it."""

    resource: Any
    ref: ObjectRef


def delete_succeeded(cluster: Cluster, done: Succeeded) -> str | None:
    """HookSucceeded's deletion of ``done``; the error, if it failed."""
    try:
        cluster.delete(done.resource, done.ref.name, done.ref.namespace)
    except KubeError as exc:
        return str(exc)
    return None


def run(
    cluster: Cluster,
    hook: Hook,
    phase: Phase,
    *,
    applyset_id: str,
    timeout: float,
    succeeded: list[Succeeded] | None = None,
) -> HookRun:
    """Create (or, for a named hook kept without BeforeHookCreation, apply) the hook, wait
    until it is done, and delete it when its policy says so; with ``succeeded``, a
    HookSucceeded deletion is left to the caller (``delete_succeeded``), listed there."""
    body = body_for(hook, applyset_id)
    ref = hook.ref
    try:
        resource = cluster.resource(body["apiVersion"], ref.kind)
        if hook.generated:
            made = cluster.create(resource, body, dry_run=False)
        else:
            live = cluster.get(resource, ref.name, ref.namespace)
            # Ours: a hook of this app, or a member of it that has become a hook.
            if live is not None and applyset_id not in (
                labels_of(live).get(HOOK_OF),
                labels_of(live).get(PART_OF),
            ):
                problem = "exists and is not a hook of this app: never replaced"
                return HookRun(str(ref), phase.value, "failed", f"{ref} {problem}")
            if live is not None and Policy.BEFORE_HOOK_CREATION in hook.policies:
                delete_and_wait(cluster, resource, ref, str(live["metadata"]["uid"]))
                live = None
            if live is None:
                made = cluster.create(resource, body, dry_run=False)
            else:
                made = cluster.apply(resource, body, dry_run=False, force=True)
        ref = replace(ref, name=str(made["metadata"]["name"]))
        ok, message = _wait(cluster, resource, ref, timeout)
        policy = Policy.HOOK_SUCCEEDED if ok else Policy.HOOK_FAILED
        deleted = policy in hook.policies
        if deleted and ok and succeeded is not None:
            succeeded.append(Succeeded(resource, ref))
            deleted = False
        elif deleted:
            cluster.delete(resource, ref.name, ref.namespace)
    except KubeError as exc:
        fields = immutable_fields(exc)
        error = immutable_message(ref, fields) if fields else str(exc)
        return HookRun(str(ref), phase.value, "failed", error)
    return HookRun(str(ref), phase.value, "succeeded" if ok else "failed", message, deleted)
