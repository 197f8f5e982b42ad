"""A webhook's recent deliveries as GitHub lists them (read only), to recover those that
never reached us: a repository's hook, or the GitHub App's own.

Owns: ``HookDelivery`` and the paging of ``GET .../deliveries`` by its ``Link`` cursor.
Must not touch: the queue, the cluster, the config file; which deliveries to redeliver
(recovery decides).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from github import Github

from webhook.github_errors import GitHubRejected
from webhook.github_session import GitHubSession


@dataclass(frozen=True)
class HookDelivery:
    """One attempt GitHub made to deliver an event to a webhook (``GET .../deliveries``)."""

    id: int
    guid: str
    event: str
    status_code: int
    delivered_at: str


def _page_cursor(link: str | None) -> str | None:
    """The ``cursor`` of the ``rel="next"`` page in a ``Link`` header, if any."""
    for part in (link or "").split(","):
        if 'rel="next"' in part and (m := re.search(r"[?&]cursor=([^&>]+)", part)):
            return m[1]
    return None


class HooksPart(GitHubSession):
    """One page of a hook's deliveries, and one delivery's request."""

    #: Authenticated as the GitHub App itself (a JWT), for its own hook; set by the client.
    _app: Github | None

    def _hook(self, repo: str | None, hook_id: str | None) -> tuple[Github, str]:
        if repo is None:
            if self._app is None:
                raise GitHubRejected("the App's hook needs GitHub App credentials", status=401)
            return self._app, "/app/hook/deliveries"
        return self._connect(repo), f"/repos/{repo}/hooks/{hook_id}/deliveries"

    def hook_deliveries(
        self, repo: str | None, hook_id: str | None, *, cursor: str | None = None
    ) -> tuple[list[HookDelivery], str | None]:
        """One page of a hook's deliveries, newest first, and the next page's cursor:
        ``repo``'s hook ``hook_id``, or the GitHub App's hook when ``repo`` is None."""
        github, path = self._hook(repo, hook_id)
        params: dict[str, Any] = {"per_page": 100, **({"cursor": cursor} if cursor else {})}

        def page() -> tuple[list[HookDelivery], str | None]:
            headers, data = github.requester.requestJsonAndCheck("GET", path, parameters=params)
            items = [
                HookDelivery(
                    id=int(d["id"]),
                    guid=str(d["guid"]),
                    event=str(d["event"]),
                    status_code=int(d.get("status_code") or 0),
                    delivered_at=str(d["delivered_at"]),
                )
                for d in data
            ]
            return items, _page_cursor(headers.get("link"))

        return self._call(
            f"deliveries of hook {hook_id or 'of the App'}", page, op="list_hook_deliveries"
        )

    def hook_delivery(
        self, repo: str | None, hook_id: str | None, delivery_id: int
    ) -> tuple[dict[str, str], Any]:
        """One delivery's request as GitHub sent it: its headers and its payload."""
        github, path = self._hook(repo, hook_id)

        def fetch() -> tuple[dict[str, str], Any]:
            _, data = github.requester.requestJsonAndCheck("GET", f"{path}/{int(delivery_id)}")
            request = data.get("request") or {}
            headers = {str(k).lower(): str(v) for k, v in (request.get("headers") or {}).items()}
            return headers, request.get("payload")

        return self._call(f"delivery {delivery_id}", fetch, op="get_hook_delivery")
