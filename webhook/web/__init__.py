"""The whole HTTP layer: app factory, receiver, API, status pages, metrics, gunicorn server.

It reads job records and writes the queue; it never queries a cluster or GitHub (the one
exception, a git reachability check for approvals, lives in ``approvals``).
"""

from webhook.web.app import create_app

__all__ = ["create_app"]
