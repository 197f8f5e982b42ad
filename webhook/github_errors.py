"""What GitHub's answers mean for the deployer: retry later, or the request itself is wrong.

Owns: mapping PyGithub's exceptions onto ``errors.Unavailable`` (with GitHub's own
``Retry-After`` or rate-limit reset as ``retry_after``) or ``GitHubRejected``, and keeping
tokens out of PyGithub's debug log. Must not touch: making requests (github.py does).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from typing import Any

from github import GithubException

from webhook.errors import Rejected, Unavailable


class _RedactTokens(logging.Filter):
    """PyGithub logs response bodies at DEBUG: an access-token answer holds the token."""

    _TOKEN = re.compile(r"""(['"]token['"]\s*:\s*['"])[^'"]*""")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self._TOKEN.sub(r"\1(removed)", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


logging.getLogger("github.Requester").addFilter(_RedactTokens())


class GitHubRejected(Rejected):
    """GitHub refused the request itself (4xx): sending it again will not help."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def classify(exc: GithubException, *, now: float | None = None) -> Unavailable | GitHubRejected:
    """Turn PyGithub's exception into ours: is a later retry worth it, and when?"""
    status = exc.status
    headers = exc.headers
    retry_after: float | None = None
    if (raw := _header(headers, "retry-after")) is not None:
        try:
            retry_after = max(0.0, float(raw))
        except ValueError:
            retry_after = None
    remaining = _header(headers, "x-ratelimit-remaining")
    reset = _header(headers, "x-ratelimit-reset")
    if retry_after is None and remaining == "0" and reset is not None:
        try:
            retry_after = max(0.0, float(reset) - (time.time() if now is None else now))
        except ValueError:
            retry_after = None
    message = exc.data.get("message") if isinstance(exc.data, dict) else None
    text = f"GitHub answered {status}: {message or 'no message'}"
    rate_limited = status == 403 and (remaining == "0" or retry_after is not None)
    if status == 429 or status >= 500 or rate_limited:
        return Unavailable(text, retry_after=retry_after)
    if status == 401:
        # Revoked or expired credentials: an operator fixes them; the reports must wait.
        return Unavailable(text)
    return GitHubRejected(text, status=status)
