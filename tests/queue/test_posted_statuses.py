"""The reporter's memory of posted statuses lives in the store's database: a restart keeps it."""

from __future__ import annotations

from webhook.posted_statuses import SqlPostedStatuses
from webhook.queue import open_store

SHA = "a" * 40


def test_a_posted_status_is_remembered_across_a_reopen_and_replaced_by_the_next(
    store_url: str,
) -> None:
    store = open_store(store_url)
    SqlPostedStatuses(store).put("Acme/GitOps", SHA, "deploy/web", "pending", "queued")
    store.close()
    reopened = open_store(store_url)
    posted = SqlPostedStatuses(reopened)
    assert posted.get("acme/gitops", SHA, "deploy/web") == ("pending", "queued")
    assert posted.get("acme/gitops", SHA, "deploy/db") is None
    posted.put("acme/gitops", SHA, "deploy/web", "success", "deployed")
    assert posted.get("Acme/GitOps", SHA, "deploy/web") == ("success", "deployed")
    reopened.close()
