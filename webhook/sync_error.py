"""The sync engine's one failure: a sync (or diff) failed for a reason in the commit or in
the cluster's answers, named by its step.

Owns: ``SyncError``. Plain data: must not touch git, the cluster or the queue.
"""

from __future__ import annotations

from typing import Any

from webhook.errors import Rejected
from webhook.result import ObjectError


class SyncError(Rejected):
    """A sync (or diff) failed for a reason in the commit or the cluster's answers.

    ``kind`` is the step (source, render, guard, dry-run, apply, prune, health); ``errors``
    holds every cause, first one first.
    """

    def __init__(
        self,
        kind: str,
        errors: list[str],
        failed: tuple[ObjectError, ...] = (),
        partial: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(errors[0] if errors else kind)
        self.kind, self.errors, self.failed = kind, errors, failed
        #: What was already done when a failure came after writes.
        self.partial = partial or {}
