"""What the local GitHub API server answers, shaped as GitHub shapes it: whole objects (every
field GitHub's response schema requires) and pages of lists.

The server checks each answer against the OpenAPI response schema, so an object missing a
required field here fails the test that received it; that check is what keeps these shapes
honest, not this module.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

#: GitHub's page size when ``per_page`` is not given, and the most it allows.
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
WHEN = "2024-01-01T00:00:00Z"


def user(who: dict[str, Any]) -> dict[str, Any]:
    """A ``simple-user`` for ``who`` (``login``, ``id``, ``type``)."""
    login = str(who["login"])
    api = f"https://api.github.com/users/{login}"
    return {
        "login": login,
        "id": int(who["id"]),
        "node_id": f"U_{who['id']}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{who['id']}",
        "gravatar_id": "",
        "url": api,
        "html_url": f"https://github.com/{login}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": str(who["type"]),
        "site_admin": False,
    }


def public_user(who: dict[str, Any]) -> dict[str, Any]:
    """``GET /user``'s answer: the ``public-user`` view of ``who``."""
    profile = dict.fromkeys(("bio", "blog", "company", "email", "hireable", "location", "name"))
    counts = dict.fromkeys(("followers", "following", "public_gists", "public_repos"), 0)
    when = {"created_at": WHEN, "updated_at": WHEN}
    return {**user(who), **profile, **counts, **when, "user_view_type": "public"}


def status(
    base: str, repo: str, sha: str, ident: int, body: dict[str, Any], who: dict[str, Any]
) -> dict[str, Any]:
    """A commit ``status`` as GitHub stores the POSTed ``body``."""
    return {
        "url": f"{base}/repos/{repo}/statuses/{sha}",
        "avatar_url": None,
        "id": ident,
        "node_id": f"SC_{ident}",
        "state": body["state"],
        "description": body.get("description"),
        "target_url": body.get("target_url"),
        "context": body.get("context", "default"),
        "created_at": WHEN,
        "updated_at": WHEN,
        "creator": user(who),
    }


def comment(
    base: str, repo: str, number: int, ident: int, text: str, who: dict[str, Any]
) -> dict[str, Any]:
    """An ``issue-comment`` by ``who`` on issue or pull request ``number``."""
    return {
        "id": ident,
        "node_id": f"IC_{ident}",
        "url": f"{base}/repos/{repo}/issues/comments/{ident}",
        "html_url": f"https://github.com/{repo}/pull/{number}#issuecomment-{ident}",
        "issue_url": f"{base}/repos/{repo}/issues/{number}",
        "body": text,
        "user": user(who),
        "created_at": WHEN,
        "updated_at": WHEN,
        "author_association": "NONE",
    }


def deployment(
    base: str, repo: str, ident: int, body: dict[str, Any], who: dict[str, Any]
) -> dict[str, Any]:
    url = f"{base}/repos/{repo}/deployments/{ident}"
    return {
        "url": url,
        "id": ident,
        "node_id": f"DE_{ident}",
        "sha": body["ref"],
        "ref": body["ref"],
        "task": body.get("task", "deploy"),
        "payload": body.get("payload", {}),
        "environment": body.get("environment", "production"),
        "description": body.get("description"),
        "creator": user(who),
        "created_at": WHEN,
        "updated_at": WHEN,
        "statuses_url": f"{url}/statuses",
        "repository_url": f"{base}/repos/{repo}",
    }


def deployment_status(
    base: str, repo: str, deployment: int, ident: int, body: dict[str, Any], who: dict[str, Any]
) -> dict[str, Any]:
    url = f"{base}/repos/{repo}/deployments/{deployment}"
    return {
        "url": f"{url}/statuses/{ident}",
        "id": ident,
        "node_id": f"DES_{ident}",
        "state": body["state"],
        "creator": user(who),
        "description": body.get("description", ""),
        # GitHub fills either link from the other (log_url replaces target_url).
        "target_url": body.get("target_url") or body.get("log_url") or "",
        "log_url": body.get("log_url") or body.get("target_url") or "",
        "created_at": WHEN,
        "updated_at": WHEN,
        "deployment_url": url,
        "repository_url": f"{base}/repos/{repo}",
    }


def page(items: list[Any], url: str, query: dict[str, str]) -> tuple[list[Any], str | None] | str:
    """The page of ``items`` that ``query`` asks for, and its ``Link`` header (None for one
    page), as GitHub paginates: ``per_page`` (default 30, at most 100) and ``page`` (from 1);
    ``next``/``last`` while there are more, ``prev``/``first`` after the first. A malformed
    ``per_page`` or ``page`` is the error message instead (the request check catches most)."""
    try:
        per_page = min(int(query.get("per_page", DEFAULT_PER_PAGE)), MAX_PER_PAGE)
        number = int(query.get("page", 1))
    except ValueError:
        return "per_page and page are numbers"
    per_page = max(per_page, 1)
    number = max(number, 1)
    last = max(1, -(-len(items) // per_page))
    chunk = items[(number - 1) * per_page : number * per_page]
    if last == 1:
        return chunk, None

    def link(to: int, rel: str) -> str:
        rest = {k: v for k, v in query.items() if k not in ("page", "per_page")}
        target = urlencode({**rest, "per_page": per_page, "page": to})
        return f'<{url}?{target}>; rel="{rel}"'

    links = []
    if number < last:
        links += [link(number + 1, "next"), link(last, "last")]
    if number > 1:
        links += [link(number - 1, "prev"), link(1, "first")]
    return chunk, ", ".join(links)
