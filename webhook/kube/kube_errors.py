"""The project's own Kubernetes errors, and the translation of the client's exceptions.

Every ``kubernetes``/``urllib3`` exception a request raises becomes a ``KubeError`` (the
cluster refused on the merits) or ``errors.Unavailable`` (it could not answer), chained as
cause, with a message that starts with what was asked; a Secret's values the server quotes
from the object written are hidden (``diff.redact_message``). Must not touch: requests,
configuration, anything but the exceptions.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import urllib3
from kubernetes import config as k8s_config
from kubernetes.dynamic import exceptions as dyn_errors

from webhook.errors import Rejected, Unavailable
from webhook.kube import diff
from webhook.objects import Manifest


class KubeError(Rejected):
    """The cluster refused or could not serve a request on its merits (an unreachable
    cluster raises ``errors.Unavailable`` instead)."""


class ApiError(KubeError):
    """The API server refused a request; ``status`` is its HTTP status."""

    def __init__(self, message: str, *, status: int, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class UnknownKind(KubeError):
    """The cluster does not serve this apiVersion/kind."""


def _message(exc: dyn_errors.DynamicApiError) -> tuple[str, str]:
    """The Status ``message`` and ``reason`` from an error body (text in kubernetes 37)."""
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        status = json.loads(body) if body else {}
    except (TypeError, ValueError):
        return (str(body)[:500] if body else f"{exc.status} {exc.reason}"), str(exc.reason or "")
    if not isinstance(status, dict):
        return str(body)[:500], str(exc.reason or "")
    return str(status.get("message") or exc.reason), str(status.get("reason") or exc.reason or "")


@contextlib.contextmanager
def translated(what: str, body: Manifest | None = None) -> Iterator[None]:
    """Re-raise client exceptions as ``KubeError``s whose message starts with ``what``; a
    Secret's values the server quotes from ``body``, the object written, are hidden."""
    try:
        yield
    except dyn_errors.ResourceNotFoundError as exc:
        raise UnknownKind(f"{what}: not served by the cluster") from exc
    except dyn_errors.DynamicApiError as exc:
        message, reason = _message(exc)
        message = diff.redact_message(message, body)
        if exc.status in (401, 502, 503, 504) or exc.status is None or exc.status == 0:
            raise Unavailable(f"{what}: {exc.status} {message}") from exc
        raise ApiError(f"{what}: {message}", status=int(exc.status), reason=reason) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise Unavailable(f"{what}: cluster unreachable: {exc}") from exc
    except k8s_config.ConfigException as exc:
        raise Unavailable(f"{what}: {exc}") from exc
