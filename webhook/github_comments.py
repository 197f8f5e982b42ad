"""Our pull request comments on GitHub: find, re-read and upsert the one with a marker.

Owns: ``Comment``, the 65,536-character limit on a comment, and the memory of our
comments' ids (so a report reads one comment, not the whole thread). Only a comment our own
identity wrote is ever edited. Must not touch: the queue, the cluster, the config file;
what a comment says (the reporter and the commands decide).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import LRUCache
from github import Github

from webhook.github_budget import WriteBudget
from webhook.github_errors import GitHubRejected
from webhook.github_session import GitHubSession, Identity
from webhook.text import cut

#: GitHub's limit on an issue comment's body.
MAX_COMMENT = 65536


@dataclass(frozen=True)
class Comment:
    id: int
    body: str


class CommentsPart(GitHubSession):
    """Our marked comments on pull requests, written at most once each."""

    def __init__(
        self,
        connect: Callable[[str], Github],
        *,
        clock: Callable[[], float],
        budget: WriteBudget,
        whoami: Callable[[], Identity],
    ) -> None:
        super().__init__(connect, clock=clock, budget=budget, whoami=whoami)
        #: Our comment's id by (repo, number, marker), once found or written: the next
        #: report reads that one comment instead of listing the thread, whose length is
        #: anyone's to make (a thousand comments on a PR were 34 requests per report).
        self._comment_ids: LRUCache[tuple[str, int, str], int] = LRUCache(maxsize=4096)
        self._comment_lock = threading.Lock()

    def find_comment(self, repo: str, number: int, marker: str) -> Comment | None:
        """Our first comment on PR ``number`` that starts with ``marker``.

        Only a comment written by our own identity counts: anyone can write the marker into
        a comment of theirs, and that comment is neither edited nor trusted.
        """
        me = self.identity()
        issue = self._connect(repo).get_repo(repo).get_issue(number)

        def find() -> Comment | None:
            for comment in issue.get_comments():
                user = comment.user
                ours = user is not None and me.wrote(user.login, user.id)
                if ours and (comment.body or "").startswith(marker):
                    return Comment(id=comment.id, body=comment.body)
            return None

        return self._call(f"comments of {repo}#{number}", find, op="list_comments", repo=repo)

    def _remembered(self, repo: str, number: int, marker: str) -> Comment | None:
        """Our comment with ``marker`` that this client found or wrote before, read again by
        its id (one request, however long the thread); None when it is gone or, edited by
        someone else since, no longer ours with the marker (the thread is searched then)."""
        key = (repo.lower(), number, marker)
        with self._comment_lock:
            known = self._comment_ids.get(key)
        if known is None:
            return None
        me = self.identity()
        comment = self._connect(repo).get_repo(repo).get_issue(number).get_comment(known)

        def read() -> Comment | None:
            user, text = comment.user, comment.body or ""
            ours = user is not None and me.wrote(user.login, user.id)
            return Comment(id=known, body=text) if ours and text.startswith(marker) else None

        try:
            found = self._call(f"comment {known}", read, op="get_comment", repo=repo)
        except GitHubRejected as exc:
            if exc.status != 404:
                raise
            found = None
        if found is None:
            with self._comment_lock:
                self._comment_ids.pop(key, None)
        return found

    def _remember(self, repo: str, number: int, marker: str, comment_id: int) -> None:
        with self._comment_lock:
            self._comment_ids[(repo.lower(), number, marker)] = comment_id

    def upsert_comment(self, repo: str, number: int, marker: str, body: str) -> int:
        """Edit our comment that starts with ``marker`` in place, or create it; its id.

        The marker is looked up before every write (by the id this client last saw, else
        through the thread), so a create whose answer was lost is found and edited next
        time instead of being posted twice. An unchanged body is not sent again. A marker
        in someone else's comment is ignored: we create our own.
        """
        if not body.startswith(marker):
            body = f"{marker}\n{body}"
        body = cut(body, MAX_COMMENT)
        existing = self._remembered(repo, number, marker) or self.find_comment(repo, number, marker)
        gh_repo = self._connect(repo).get_repo(repo)
        if existing is None:
            issue = gh_repo.get_issue(number)
            created = self._call(
                f"comment on {repo}#{number}",
                lambda: issue.create_comment(body),
                op="create_comment",
                write=True,
                repo=repo,
            )
            self._remember(repo, number, marker, int(created.id))
            return int(created.id)
        self._remember(repo, number, marker, existing.id)
        if existing.body != body:
            comment = gh_repo.get_issue(number).get_comment(existing.id)
            self._call(
                f"edit comment {existing.id}",
                lambda: comment.edit(body),
                op="edit_comment",
                write=True,
                repo=repo,
            )
        return existing.id
