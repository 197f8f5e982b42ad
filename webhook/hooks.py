"""The sync order the manifests ask for: hooks, phases, waves and sync options.

Owns: reading the annotations teams already use with Argo CD, Flux and Helm, and nothing
else: which objects are hooks (``argocd.argoproj.io/hook``, or ``helm.sh/hook`` mapped as
Argo CD maps it), their phases, waves and delete policies, the wave of every other object
(``argocd.argoproj.io/sync-wave``, else ``helm.sh/hook-weight``, as Argo CD), and the
per-object sync options ``Prune=false`` / ``Replace=true`` (and Flux's
``kustomize.toolkit.fluxcd.io/prune: disabled`` / ``.../force: enabled`` /
``.../ssa: IfNotPresent``, as labels too; Helm's ``helm.sh/resource-policy: keep``). A
problem in these annotations is reported by ``problems`` (the guard calls it), so ``split``
never fails on guarded objects.
Must not touch: the cluster, git, rendering. Plain data in, plain data out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from webhook.objects import CRD_GROUP, CRD_KIND, Manifest, ObjectRef, group_of, ref_of

HOOK = "argocd.argoproj.io/hook"
HOOK_DELETE_POLICY = "argocd.argoproj.io/hook-delete-policy"
SYNC_WAVE = "argocd.argoproj.io/sync-wave"
SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
FLUX_PRUNE = "kustomize.toolkit.fluxcd.io/prune"
FLUX_FORCE = "kustomize.toolkit.fluxcd.io/force"
#: ``IfNotPresent``: created, never applied again; ``Ignore``: never applied again.
FLUX_SSA = "kustomize.toolkit.fluxcd.io/ssa"
HELM_HOOK = "helm.sh/hook"
HELM_HOOK_WEIGHT = "helm.sh/hook-weight"
HELM_HOOK_DELETE_POLICY = "helm.sh/hook-delete-policy"
#: ``keep``: ``helm upgrade`` and ``helm uninstall`` leave the object in place.
HELM_RESOURCE_POLICY = "helm.sh/resource-policy"
#: The deployer's label on a live hook object (the value: its app's ApplySet id), in place of
#: the ApplySet member label: hooks are no members, and are deleted only as hooks of this app.
HOOK_OF = "webhook-deployer.io/hook-of"
#: Kinds whose deletion takes other objects with it (everything in a Namespace, every
#: resource of a CRD's kind, other apps' too): a hook's delete policy would delete them, past
#: ``prune_cluster_scoped``. Never hooks (Argo CD runs Jobs and Pods as hooks in practice).
NOT_HOOKS = frozenset({("", "Namespace"), (CRD_GROUP, CRD_KIND)})


class Phase(StrEnum):
    """When a hook runs: before the waves, with them, after them, or when the sync fails."""

    PRE_SYNC = "PreSync"
    SYNC = "Sync"
    POST_SYNC = "PostSync"
    SYNC_FAIL = "SyncFail"


class Policy(StrEnum):
    """When a hook object is deleted (Argo CD's names; Helm's map onto them)."""

    BEFORE_HOOK_CREATION = "BeforeHookCreation"
    HOOK_SUCCEEDED = "HookSucceeded"
    HOOK_FAILED = "HookFailed"


SKIP = "Skip"
#: Helm hooks as Argo CD maps them; test hooks and delete/rollback hooks are never applied
#: on a sync (``helm template --skip-tests`` already drops the tests; this drops them again).
HELM_PHASES: Mapping[str, Phase | None] = {
    "pre-install": Phase.PRE_SYNC,
    "pre-upgrade": Phase.PRE_SYNC,
    "post-install": Phase.POST_SYNC,
    "post-upgrade": Phase.POST_SYNC,
    "test": None,
    "test-success": None,
    "test-failure": None,
    "pre-delete": None,
    "post-delete": None,
    "pre-rollback": None,
    "post-rollback": None,
}
HELM_POLICIES: Mapping[str, Policy] = {
    "before-hook-creation": Policy.BEFORE_HOOK_CREATION,
    "hook-succeeded": Policy.HOOK_SUCCEEDED,
    "hook-failed": Policy.HOOK_FAILED,
}


def _annotations(body: Manifest) -> Mapping[str, str]:
    meta = body.get("metadata")
    notes = meta.get("annotations") if isinstance(meta, dict) else None
    return notes if isinstance(notes, dict) else {}


def _items(value: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``: the comma lists all three tools accept."""
    return [part.strip() for part in value.split(",") if part.strip()]


def _int(value: str | None) -> int | None:
    try:
        return int(value.strip()) if value is not None else 0
    except ValueError:
        return None


def _uses_helm(notes: Mapping[str, str]) -> bool:
    """Argo CD's own hook annotation wins over Helm's (as in Argo CD)."""
    return HOOK not in notes and HELM_HOOK in notes


def problems(body: Manifest) -> list[str]:
    """What is wrong with the sync-order annotations of one object (empty: nothing)."""
    notes = _annotations(body)
    found = []
    if HOOK in notes:
        known = {*Phase, SKIP}
        bad = [v for v in _items(notes[HOOK]) if v not in known]
        if bad or not _items(notes[HOOK]):
            found.append(f"{HOOK} {notes[HOOK]!r}: use one or more of {', '.join(sorted(known))}")
        bad = [v for v in _items(notes.get(HOOK_DELETE_POLICY, "")) if v not in set(Policy)]
        if bad:
            found.append(f"{HOOK_DELETE_POLICY} {', '.join(bad)!r}: use {', '.join(Policy)}")
    if _uses_helm(notes):
        bad = [v for v in _items(notes[HELM_HOOK]) if v not in HELM_PHASES and v != "crd-install"]
        if bad:
            found.append(f"{HELM_HOOK} {', '.join(bad)!r} is not a Helm hook")
        bad = [v for v in _items(notes.get(HELM_HOOK_DELETE_POLICY, "")) if v not in HELM_POLICIES]
        if bad:
            found.append(f"{HELM_HOOK_DELETE_POLICY} {', '.join(bad)!r} is not a Helm policy")
        if _int(notes.get(HELM_HOOK_WEIGHT)) is None:
            found.append(f"{HELM_HOOK_WEIGHT} {notes[HELM_HOOK_WEIGHT]!r} is not an integer")
    if _int(notes.get(SYNC_WAVE)) is None:
        found.append(f"{SYNC_WAVE} {notes[SYNC_WAVE]!r} is not an integer")
    kind = (group_of(str(body.get("apiVersion", ""))), str(body.get("kind", "")))
    if not found and kind in NOT_HOOKS and is_hook(body) and _hook(body) is not None:
        found.append(
            "cannot be a hook: its delete policy would delete everything in it (or of its "
            "kind), other apps' objects too; keep it an ordinary member of the app"
        )
    return found


def is_hook(body: Manifest) -> bool:
    """Whether the object runs as a hook (or is skipped as one): never a member."""
    notes = _annotations(body)
    if HOOK in notes:
        return True
    return _uses_helm(notes) and any(v != "crd-install" for v in _items(notes[HELM_HOOK]))


def sync_options(body: Manifest) -> frozenset[str]:
    """``argocd.argoproj.io/sync-options: Prune=false,Replace=true`` -> both, as written."""
    return frozenset(_items(_annotations(body).get(SYNC_OPTIONS, "")))


def _flux(body: Manifest, key: str, value: str) -> bool:
    """Flux's selectors: a label or an annotation, its value in any case (fluxcd/pkg
    ``ssa/utils.AnyInMetadata``)."""
    meta = body.get("metadata")
    for where in ("labels", "annotations"):
        found = meta.get(where) if isinstance(meta, dict) else None
        text = found.get(key) if isinstance(found, dict) else None
        if isinstance(text, str) and text.strip().lower() == value.lower():
            return True
    return False


def keeps_on_prune(body: Manifest) -> bool:
    """``Prune=false``, Flux's ``prune: disabled`` or Helm's ``resource-policy: keep``
    (which ``helm upgrade`` honours when the object leaves the chart): never pruned."""
    helm = _annotations(body).get(HELM_RESOURCE_POLICY, "").strip() == "keep"
    return _flux(body, FLUX_PRUNE, "disabled") or helm or "Prune=false" in sync_options(body)


def recreates(body: Manifest) -> bool:
    """``Replace=true`` or Flux's ``force: enabled``: an immutable change deletes and
    creates the object instead of failing."""
    return _flux(body, FLUX_FORCE, "enabled") or "Replace=true" in sync_options(body)


def leaves_live(body: Manifest) -> bool:
    """Flux's ``ssa: IfNotPresent`` or ``ssa: Ignore`` in git: once the object exists it is
    never applied again (a PVC, a seeded ConfigMap another tool edits). Only git's object
    is read: an annotation put on the live object does not pin it against git."""
    return _flux(body, FLUX_SSA, "IfNotPresent") or _flux(body, FLUX_SSA, "Ignore")


def wave_of(body: Manifest) -> int:
    """``argocd.argoproj.io/sync-wave``, else ``helm.sh/hook-weight``, on any object, hook
    or not: gitops-engine's ``syncwaves.Wave``, which Argo CD orders every object by."""
    notes = _annotations(body)
    if SYNC_WAVE in notes:
        return _int(notes[SYNC_WAVE]) or 0
    return _int(notes.get(HELM_HOOK_WEIGHT)) or 0


@dataclass(frozen=True)
class Hook:
    """One hook object and when it runs. ``wave`` orders hooks within a phase."""

    body: Manifest
    phases: frozenset[Phase]
    wave: int
    policies: frozenset[Policy]

    @property
    def generated(self) -> bool:
        """A ``generateName`` hook: created anew each time, never applied by name."""
        return not (self.body.get("metadata") or {}).get("name")

    @property
    def ref(self) -> ObjectRef:
        """Its identity; a generated hook's name is its ``generateName`` prefix."""
        ref = ref_of(self.body)
        if self.generated:
            prefix = str((self.body.get("metadata") or {}).get("generateName", ""))
            return ObjectRef(ref.group, ref.kind, ref.namespace, prefix)
        return ref

    @property
    def label(self) -> str:
        return f"{self.ref}{'*' if self.generated else ''}"


def _hook(body: Manifest) -> Hook | None:
    """The hook ``body`` stands for; None when it is never applied (Skip, Helm tests)."""
    notes = _annotations(body)
    if HOOK in notes:
        values = _items(notes[HOOK])
        if SKIP in values:
            return None
        phases = frozenset(Phase(v) for v in values)
        policies = frozenset(Policy(v) for v in _items(notes.get(HOOK_DELETE_POLICY, "")))
        wave = wave_of(body)
    else:
        mapped = {HELM_PHASES.get(v) for v in _items(notes[HELM_HOOK])}
        phases = frozenset(p for p in mapped if p is not None)
        if not phases:
            return None
        policies = frozenset(
            HELM_POLICIES[v] for v in _items(notes.get(HELM_HOOK_DELETE_POLICY, ""))
        )
        wave = wave_of(body)
    return Hook(body, phases, wave, policies or frozenset({Policy.BEFORE_HOOK_CREATION}))


def _unranked(ref: ObjectRef) -> int:
    return 0


@dataclass(frozen=True)
class Order:
    """A sync's objects in the order they go: members by wave, hooks by phase."""

    resources: list[Manifest] = field(default_factory=list)
    hooks: list[Hook] = field(default_factory=list)
    #: Hook objects never applied: ``Skip``, Helm test and delete/rollback hooks.
    skipped: list[str] = field(default_factory=list)

    @property
    def waves(self) -> list[int]:
        return sorted({wave_of(b) for b in self.resources})

    def in_wave(self, wave: int) -> list[Manifest]:
        return [b for b in self.resources if wave_of(b) == wave]

    def hooks_in(
        self, phase: Phase, wave: int | None = None, rank: Callable[[ObjectRef], int] = _unranked
    ) -> list[Hook]:
        """The phase's hooks in order: wave, then kind by ``rank`` (the apply's kind order,
        so a ServiceAccount before the Job that runs as it, as Argo CD's ``kindOrder`` and
        Helm's ``InstallOrder`` order hooks), then kind and name."""
        chosen = [h for h in self.hooks if phase in h.phases and wave in (None, h.wave)]
        return sorted(chosen, key=lambda h: (h.wave, rank(h.ref), h.ref.kind, h.ref.name))


def split(objects: list[Manifest]) -> Order:
    """Members (objects of the app's inventory) apart from hooks; Skip hooks dropped."""
    order = Order()
    for body in objects:
        if not is_hook(body):
            order.resources.append(body)
        elif (hook := _hook(body)) is not None:
            order.hooks.append(hook)
        else:
            order.skipped.append(str(ref_of(body)))
    return order
