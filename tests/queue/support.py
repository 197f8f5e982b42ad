"""What the queue tests build their jobs from: commits, a request, a clock they move."""

from __future__ import annotations

from webhook.model import PullRequestRef, SyncRequest, Trigger

SHA_A, SHA_B, SHA_C = "a" * 40, "b" * 40, "c" * 40


def request(
    app: str = "web",
    commit: str = SHA_A,
    trigger: Trigger = Trigger.PUSH,
    prs: tuple[PullRequestRef, ...] = (),
) -> SyncRequest:
    return SyncRequest(
        app=app,
        repo="acme/gitops",
        commit=commit,
        ref="refs/heads/main",
        trigger=trigger,
        delivery="d",
        pull_requests=prs,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now
