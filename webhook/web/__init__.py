"""The whole HTTP layer: app factory, receiver, API, status pages, metrics, gunicorn server.

It reads job records and writes the queue; it never queries a cluster or GitHub. Two
exceptions, neither in the receiver: a git reachability check for approvals
(``approvals``), and sign-in, which asks GitHub who a user is and what they may do
(``signin``). Who may see and do what is decided in ``access``.
"""

from webhook.web.app import create_app

__all__ = ["create_app"]
