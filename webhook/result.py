"""The record of one sync: what changed, what failed, how healthy, how long, and why it ended.

Owns: ``SyncResult`` and its one-line summary. One record per run feeds the job store, the
status page, the CLI and the GitHub reporter alike, so they cannot disagree (as kube-applier's
``run/result.go``). Plain data only: must not touch git, the cluster or the queue.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from webhook.objects import Action
from webhook.text import cut

#: The one-line summary's bound (it feeds statuses and the page).
MAX_SUMMARY = 500
#: Bounds on the error texts a record keeps: a failure quotes the repository or the API
#: server (a 3 MB name the guard refuses, a value the server will not take), and the record
#: is stored, shown on the page and in the API on every push of a pull request.
MAX_ERRORS = 100
MAX_ERROR_CHARS = 2000


def bounded_errors(errors: tuple[str, ...]) -> tuple[str, ...]:
    """The first ``MAX_ERRORS`` errors, each cut to ``MAX_ERROR_CHARS``, and how many more."""
    kept = tuple(cut(e, MAX_ERROR_CHARS) for e in errors[:MAX_ERRORS])
    more = len(errors) - len(kept)
    return kept + ((f"… and {more} more errors",) if more else ())


@dataclass(frozen=True)
class ObjectError:
    object: str
    error: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "error", cut(self.error, MAX_ERROR_CHARS))


@dataclass(frozen=True)
class ObjectHealth:
    object: str
    status: str
    message: str


@dataclass(frozen=True)
class HookRun:
    """One hook of a sync: which object, in which phase, and how it ended.

    ``status``: ``succeeded``, ``failed``, or ``planned`` (a dry run). ``deleted``: removed
    afterwards by its delete policy (HookSucceeded, HookFailed)."""

    object: str
    phase: str
    status: str
    message: str = ""
    deleted: bool = False


@dataclass(frozen=True)
class ObjectDiff:
    """One object a sync would change: which, how, and its unified diff (Secrets redacted).

    The CLI's ``diff -o json|yaml`` prints these; ``diff`` is empty when the change lies
    only in redacted values."""

    object: str
    #: ``created``, ``configured`` or ``pruned``: what a sync would do to it.
    action: Action
    diff: str

    def to_dict(self) -> dict[str, str]:
        return {"object": self.object, "action": self.action.value, "diff": self.diff}


@dataclass(frozen=True, kw_only=True)
class SyncResult:
    """The record of one sync (or dry run): what changed, what failed, how healthy."""

    app: str
    commit: str
    dry_run: bool = False
    created: tuple[str, ...] = ()
    configured: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    pruned: tuple[str, ...] = ()
    failed: tuple[ObjectError, ...] = ()
    skipped: tuple[str, ...] = ()
    health: tuple[ObjectHealth, ...] = ()
    #: Hooks run (or, in a dry run, planned), in the order they ran.
    hooks: tuple[HookRun, ...] = ()
    duration: float = 0.0
    #: The first cause, for people; ``errors`` holds every one.
    error: str | None = None
    errors: tuple[str, ...] = ()
    #: source | render | guard | dry-run | hook | apply | prune | health | infrastructure
    error_kind: str | None = None
    #: What the render read (``render.inputs_of``): None when it did not get that far. The
    #: worker keeps it beside the job, not in the job's record (``to_dict`` leaves it out).
    inputs: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.error is not None:
            object.__setattr__(self, "error", cut(self.error, MAX_ERROR_CHARS))
        object.__setattr__(self, "errors", bounded_errors(tuple(self.errors)))

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def total(self) -> int:
        return len(self.created) + len(self.configured) + len(self.unchanged)

    @property
    def changed(self) -> int:
        return len(self.created) + len(self.configured) + len(self.pruned)

    def summary(self) -> str:
        """One line: "14 objects, 3 changed, healthy in 6.2s", or the first cause."""
        if self.error is not None:
            return cut(self.error.splitlines()[0], MAX_SUMMARY)
        if self.dry_run:
            return (
                f"dry run: {self.total} objects, {len(self.created)} to create, "
                f"{len(self.configured)} to change, {len(self.pruned)} to prune"
            )
        pruned = f", {len(self.pruned)} pruned" if self.pruned else ""
        hooks = f", {len(self.hooks)} hooks run" if self.hooks else ""
        return (
            f"{self.total} objects, {len(self.created) + len(self.configured)} changed{pruned}"
            f"{hooks}, "
            f"healthy in {self.duration:.1f}s"
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["inputs"]
        out["summary"] = self.summary()
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out
