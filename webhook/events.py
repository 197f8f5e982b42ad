"""GitHub event -> sync requests: which apps a delivery touches, at which commit.

Functions over the payload and the app index, whose only I/O is reading the apps' recorded
inputs through the reader it was given (the store, never git): the receiver stays fast and
these rules are tested without a server. A merged pull request deploys its merge commit; an
opened, synchronized or reopened one asks for a preview of its head commit (never applied),
except from a fork unless the index allows it: a fork's manifests are untrusted.
Which apps a push touches follows ``webhook.affected``: an app's folder, what its last render
read (the index asks its ``inputs`` reader for them) and its ``paths:``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from webhook.affected import RecordedInputs, inputs_key, touched
from webhook.model import PullRequestRef, SyncRequest, Trigger
from webhook.settings import AppConfig
from webhook.text import is_commit_sha

ZERO_SHA = "0" * 40
#: GitHub lists at most this many commits in a push; a full list may have been cut.
MAX_PUSH_COMMITS = 2048
#: GitHub lists at most this many files per commit and per kind of change.
MAX_COMMIT_FILES = 3000
#: Pull request actions that change what merging would deploy.
PREVIEW_ACTIONS = frozenset({"opened", "synchronize", "reopened"})
#: ``/deploy approve <app>[@<sha>]`` or ``/deploy diff <app>``, the comment's first line.
COMMAND = re.compile(r"/deploy\s+(approve|diff)\s+([a-z0-9-]{1,63})(?:@([0-9a-f]{40}))?")


@dataclass(frozen=True)
class Ignored:
    """A validly signed delivery that asks for nothing; ``reason`` is shown to GitHub."""

    reason: str


@dataclass(frozen=True)
class Pong:
    """Answer to GitHub's ``ping`` when a hook is created."""

    zen: str


Decision = list[SyncRequest] | Ignored | Pong
#: Recorded render inputs by app name, for the named apps (the store's ``recorded_inputs``).
InputsReader = Callable[[Sequence[str]], Mapping[str, RecordedInputs]]


class AppIndex:
    """Apps by (repo, branch), and which of them a set of changed files touches."""

    def __init__(
        self,
        apps: Iterable[AppConfig],
        *,
        preview_forks: bool = False,
        inputs: InputsReader | None = None,
    ) -> None:
        """``preview_forks``: preview pull requests from forks too (``config.preview_forks``).
        ``inputs``: reads apps' recorded render inputs; None: every app's are unknown."""
        self.preview_forks = preview_forks
        self.inputs = inputs
        self._by_branch: dict[tuple[str, str], list[AppConfig]] = defaultdict(list)
        self._repos: set[str] = set()
        self._keys: dict[str, str] = {}
        self._named: dict[str, AppConfig] = {}
        for app in apps:
            self._keys[app.name] = inputs_key(app)
            self._named[app.name] = app
            repo = app.repo.lower()
            self._repos.add(repo)
            self._by_branch[(repo, app.branch)].append(app)

    def named(self, name: str) -> AppConfig | None:
        return self._named.get(name)

    def has_repo(self, repo: str) -> bool:
        return repo.lower() in self._repos

    def on_branch(self, repo: str, branch: str) -> Sequence[AppConfig]:
        return self._by_branch.get((repo.lower(), branch), ())

    def touched(self, repo: str, branch: str, files: Iterable[str]) -> list[AppConfig]:
        """Apps of the branch that ``files`` touch (``webhook.affected``), in config order."""
        apps = self.on_branch(repo, branch)
        if not apps:
            return []
        recorded = self.inputs([app.name for app in apps]) if self.inputs else {}
        return touched(apps, recorded, files, self._keys)


def _changed_files(payload: Mapping[str, Any]) -> list[str] | None:
    """Every path a push changed, or None when GitHub's lists cannot be trusted to be whole."""
    commits = payload.get("commits")
    if not isinstance(commits, list) or not commits:
        return None
    if len(commits) >= MAX_PUSH_COMMITS or payload.get("forced") or payload.get("created"):
        return None
    files: list[str] = []
    for commit in commits:
        if not isinstance(commit, Mapping):
            return None
        lists = [commit.get(kind) for kind in ("added", "modified", "removed")]
        if not all(isinstance(item, list) for item in lists):
            return None
        count = sum(len(item) for item in lists if isinstance(item, list))
        if count == 0 or any(
            len(item) >= MAX_COMMIT_FILES for item in lists if isinstance(item, list)
        ):
            # Very large commits come with empty or capped lists.
            return None
        for item in lists:
            files.extend(str(name) for name in item if isinstance(name, str))  # type: ignore[union-attr]
    return files


def _repo_name(payload: Mapping[str, Any]) -> str | None:
    repository = payload.get("repository")
    if isinstance(repository, Mapping) and isinstance(repository.get("full_name"), str):
        return str(repository["full_name"])
    return None


def _requests(
    apps: Iterable[AppConfig],
    trigger: Trigger,
    commit: str,
    ref: str,
    delivery: str,
    prs: tuple[PullRequestRef, ...] = (),
    diff_base: str | None = None,
) -> list[SyncRequest]:
    """One request per app, each at its app's name and repository, alike in all else."""
    request = partial(SyncRequest, commit=commit, ref=ref, trigger=trigger, delivery=delivery)
    return [
        request(app=app.name, repo=app.repo, pull_requests=prs, diff_base=diff_base) for app in apps
    ]


def decide_push(payload: Mapping[str, Any], index: AppIndex, delivery: str) -> Decision:
    repo = _repo_name(payload)
    ref = payload.get("ref")
    if repo is None or not isinstance(ref, str):
        raise ValueError("push payload lacks repository.full_name or ref")
    if not index.has_repo(repo):
        return Ignored(f"repository {repo} is not configured")
    if not ref.startswith("refs/heads/"):
        return Ignored(f"{ref} is not a branch")
    branch = ref.removeprefix("refs/heads/")
    after = payload.get("after")
    if payload.get("deleted") or after == ZERO_SHA:
        return Ignored(f"branch {branch} was deleted")
    if not is_commit_sha(after):
        raise ValueError("push payload lacks a commit SHA in 'after'")
    apps = index.on_branch(repo, branch)
    if not apps:
        return Ignored(f"branch {branch} of {repo} is not tracked by any app")
    files = _changed_files(payload)
    touched = list(apps) if files is None else index.touched(repo, branch, files)
    if not touched:
        return Ignored(f"no app's folder, inputs or paths changed in {str(after)[:7]}")
    before = payload.get("before")
    # Lists cut short: the worker diffs before..after. A forced push or a new branch has no
    # such base (what it dropped matters too): every app of the branch syncs.
    fast_forward = not payload.get("forced") and not payload.get("created")
    diff_base = (
        str(before)
        if files is None and fast_forward and is_commit_sha(before) and before != ZERO_SHA
        else None
    )
    return _requests(touched, Trigger.PUSH, str(after), ref, delivery, diff_base=diff_base)


def decide_pull_request(payload: Mapping[str, Any], index: AppIndex, delivery: str) -> Decision:
    action = payload.get("action")
    if not isinstance(action, str):
        raise ValueError(f"pull_request 'action' has the wrong type ({type(action).__name__})")
    pull = payload.get("pull_request")
    repo = _repo_name(payload)
    if not isinstance(pull, Mapping) or repo is None:
        raise ValueError("pull_request payload lacks pull_request or repository")
    if not index.has_repo(repo):
        return Ignored(f"repository {repo} is not configured")
    number = pull.get("number")
    if action in PREVIEW_ACTIONS:
        return _preview(pull, index, repo, delivery)
    if action != "closed":
        return Ignored(f"pull request #{number} {action}: only merges deploy")
    if not pull.get("merged"):
        return Ignored(f"pull request #{number} was closed without merging")
    base = pull.get("base")
    head = pull.get("head")
    branch = base.get("ref") if isinstance(base, Mapping) else None
    head_sha = head.get("sha") if isinstance(head, Mapping) else None
    merge_sha = pull.get("merge_commit_sha")
    if not isinstance(branch, str) or not is_commit_sha(merge_sha) or not isinstance(number, int):
        raise ValueError("merged pull_request lacks base.ref, number or merge_commit_sha")
    apps = index.on_branch(repo, branch)
    if not apps:
        return Ignored(f"branch {branch} of {repo} is not tracked by any app")
    prs = (
        (PullRequestRef(number=number, head_sha=str(head_sha)),) if is_commit_sha(head_sha) else ()
    )
    # The payload has no file list: the worker diffs the merge against its first parent.
    ref = f"refs/heads/{branch}"
    return _requests(apps, Trigger.MERGE, str(merge_sha), ref, delivery, prs, "parent")


def _preview(pull: Mapping[str, Any], index: AppIndex, repo: str, delivery: str) -> Decision:
    """A plan of the PR's head commit for each app of its base branch that the PR touches."""
    number = pull.get("number")
    base, head = pull.get("base"), pull.get("head")
    if not isinstance(base, Mapping) or not isinstance(head, Mapping):
        raise ValueError("pull_request lacks base or head")
    branch, head_sha = base.get("ref"), head.get("sha")
    if not isinstance(branch, str) or not is_commit_sha(head_sha) or not isinstance(number, int):
        raise ValueError("pull_request lacks number, base.ref or head.sha")
    head_repo, base_repo = head.get("repo"), base.get("repo")
    head_name = head_repo.get("full_name") if isinstance(head_repo, Mapping) else None
    base_name = base_repo.get("full_name") if isinstance(base_repo, Mapping) else repo
    if head_name != base_name and not index.preview_forks:
        # A deleted fork has head.repo null: untrusted all the same.
        return Ignored(f"pull request #{number} comes from a fork ({head_name}): no preview")
    apps = index.on_branch(repo, branch)
    if not apps:
        return Ignored(f"branch {branch} of {repo} is not tracked by any app")
    prs = (PullRequestRef(number=number, head_sha=str(head_sha)),)
    base_sha = base.get("sha")
    # The worker diffs the head against where it left the base branch.
    diff_base = str(base_sha) if is_commit_sha(base_sha) else None
    ref = f"refs/pull/{number}/head"
    return _requests(apps, Trigger.PREVIEW, str(head_sha), ref, delivery, prs, diff_base)


def decide_issue_comment(payload: Mapping[str, Any], index: AppIndex, delivery: str) -> Decision:
    """A ``/deploy`` comment on a pull request: a command job for the worker, which checks
    the author's permission (never here: the receiver does not call GitHub). Only new
    comments count (an edit could turn an old comment into an approval), and no bot's."""
    action = payload.get("action")
    if not isinstance(action, str):
        raise ValueError(f"issue_comment 'action' has the wrong type ({type(action).__name__})")
    issue, comment, repo = payload.get("issue"), payload.get("comment"), _repo_name(payload)
    if not isinstance(issue, Mapping) or not isinstance(comment, Mapping) or repo is None:
        raise ValueError("issue_comment payload lacks issue, comment or repository")
    if action != "created":
        return Ignored(f"comment {action}: only new comments are commands")
    body, user = comment.get("body"), comment.get("user")
    first = next((line.strip() for line in str(body or "").splitlines() if line.strip()), "")
    if not first.startswith("/deploy"):
        return Ignored("not a /deploy command")
    if not index.has_repo(repo):
        return Ignored(f"repository {repo} is not configured")
    if not isinstance(issue.get("pull_request"), Mapping):
        return Ignored("/deploy works on pull requests, not issues")
    number, comment_id = issue.get("number"), comment.get("id")
    login = user.get("login") if isinstance(user, Mapping) else None
    user_id = user.get("id") if isinstance(user, Mapping) else None
    if not isinstance(number, int) or not isinstance(comment_id, int) or not isinstance(login, str):
        raise ValueError("issue_comment lacks issue.number, comment.id or comment.user.login")
    if isinstance(user, Mapping) and user.get("type") == "Bot":
        return Ignored(f"comment by the bot {login}: bots do not command deployments")
    found = COMMAND.fullmatch(first)
    if found is None:
        return Ignored("not '/deploy approve <app>[@<sha>]' or '/deploy diff <app>'")
    verb, name, sha = found.group(1), found.group(2), found.group(3)
    app = index.named(name)
    if app is None or app.repo.lower() != repo.lower():
        return Ignored(f"no app named {name!r} deploys {repo}")
    command = {
        "verb": verb,
        "sha": sha,
        "login": login,
        "user_id": user_id if isinstance(user_id, int) else None,
        "comment_id": comment_id,
        "number": number,
        "url": str(comment.get("html_url") or ""),
    }
    return [
        SyncRequest(
            app=app.name,
            repo=app.repo,
            commit=sha or "",
            ref=f"refs/pull/{number}/head",
            trigger=Trigger.COMMAND,
            delivery=delivery,
            command=command,
        )
    ]


def decide(event: str, payload: Mapping[str, Any], index: AppIndex, delivery: str) -> Decision:
    """What to do with one delivery. Raises ValueError when the payload is not what GitHub sends."""
    if event == "ping":
        return Pong(str(payload.get("zen", "")))
    if event == "push":
        return decide_push(payload, index, delivery)
    if event == "pull_request":
        return decide_pull_request(payload, index, delivery)
    if event == "issue_comment":
        return decide_issue_comment(payload, index, delivery)
    return Ignored(f"event {event!r} does not deploy")
