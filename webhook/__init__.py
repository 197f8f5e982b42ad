"""webhook-deployer: GitHub webhooks in, Kubernetes syncs out.

Importing the package loads no Flask: the web app lives in ``webhook.web``. The name
``webhook.create_app`` still works for existing callers and loads the web layer on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from webhook.web.app import create_app

        return create_app
    raise AttributeError(f"module 'webhook' has no attribute {name!r}")
