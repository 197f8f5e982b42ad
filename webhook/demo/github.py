"""A stand-in for GitHub's REST API, for the demo: it takes the commit statuses and pull
request comments the deployer posts, keeps them, and prints each one as it arrives.

It implements only the calls the deployer's reporter makes (statuses, issue comments,
``GET /user``) and checks nothing: it is a window onto what GitHub would show, not a test
double (the tests use ``tests/github/api_server.py``, which validates every request against
GitHub's OpenAPI description).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

#: Who the stand-in says the deployer's token belongs to.
USER = {"login": "demo-deployer", "id": 1, "type": "User"}
_STATUS = re.compile(r"^/repos/([^/]+/[^/]+)/statuses/([0-9a-f]{40})$")
_STATUSES = re.compile(r"^/repos/([^/]+/[^/]+)/commits/([0-9a-f]{40})/statuses$")
_COMMENTS = re.compile(r"^/repos/([^/]+/[^/]+)/issues/(\d+)/comments$")
_COMMENT = re.compile(r"^/repos/([^/]+/[^/]+)/issues/comments/(\d+)$")


class _Quiet(WSGIRequestHandler):
    """No access log: the stand-in prints what it received in its own words."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class GitHubStandIn:
    """Serves on a free loopback port from construction until ``close``; ``url`` is the
    ``GITHUB_API_URL`` to give the deployer. ``say`` gets one line per status or comment."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.statuses: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.comments: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = make_server(
            "127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_Quiet
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def latest(self, repo: str, sha: str, context: str) -> dict[str, Any] | None:
        with self._lock:
            found = [s for s in self.statuses.get((repo, sha), []) if s["context"] == context]
        return found[-1] if found else None

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        with self._lock:
            status, payload = self._route(request)
        body = json.dumps(payload).encode()
        return Response(body, status, content_type="application/json")(environ, start_response)

    def _route(self, request: Request) -> tuple[int, Any]:
        path, method = request.path, request.method
        data = request.get_json(silent=True) or {}
        if path == "/user":
            return 200, USER
        if (match := _STATUS.match(path)) and method == "POST":
            repo, sha = match.groups()
            status = {
                "id": next(self._ids),
                "url": request.url,
                "state": data.get("state"),
                "context": data.get("context"),
                "description": data.get("description"),
                "target_url": data.get("target_url"),
                "creator": USER,
            }
            self.statuses.setdefault((repo, sha), []).append(status)
            self.say(
                f"status   {sha[:7]} {status['context']}: {status['state']}: "
                f"{status['description']}"
            )
            return 201, status
        if (match := _STATUSES.match(path)) and method == "GET":
            key = (match.group(1), match.group(2))
            return 200, list(reversed(self.statuses.get(key, [])))
        if (match := _COMMENTS.match(path)) and method == "GET":
            number = int(match.group(2))
            return 200, [c for c in self.comments.values() if c["number"] == number]
        if (match := _COMMENTS.match(path)) and method == "POST":
            comment_id = next(self._ids)
            comment = {
                "id": comment_id,
                "number": int(match.group(2)),
                "body": str(data.get("body", "")),
                "user": USER,
                "url": f"{request.host_url.rstrip('/')}/repos/{match.group(1)}/issues/comments/"
                f"{comment_id}",
            }
            self.comments[comment_id] = comment
            self._print_comment("comment", comment)
            return 201, comment
        if (match := _COMMENT.match(path)) and method in ("GET", "PATCH"):
            found = self.comments.get(int(match.group(2)))
            if found is None:
                return 404, {"message": "Not Found"}
            if method == "PATCH":
                found["body"] = str(data.get("body", ""))
                self._print_comment("edited", found)
            return 200, found
        return 404, {"message": f"the demo's GitHub stand-in has no {method} {path}"}

    def _print_comment(self, what: str, comment: dict[str, Any]) -> None:
        lines = [line for line in comment["body"].splitlines() if line.strip()][1:6]
        self.say(f"{what:8} on PR #{comment['number']}:")
        for line in lines:
            self.say(f"           {line[:110]}")
