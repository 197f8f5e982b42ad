"""The dynamic client's API errors, made without formatting a traceback.

``kubernetes.dynamic`` turns every error answer into one of its exception classes
(``NotFoundError`` for 404, ...) through ``api_exception``, which also formats the whole
traceback of the request into the exception's ``original_traceback``: on Python 3.11 that
reads and parses (``ast``) the source line of every frame, about 20 frames deep. Only the
exception's ``__str__`` prints that text, and a traceback is never what the deployer shows
anyone (``client.translated`` reads the status and the body). 404 is an ordinary answer
here: a read of an object not yet created, such as every object of a new app, which made
this formatting about a tenth of a worker's CPU in a fleet (py-spy, ``--gil``).

``install()`` replaces the client's hook with one that picks the same class, by asking the
library's own mapping once per status without a traceback. Must not touch: anything but
that hook.
"""

from __future__ import annotations

from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import client as dynamic_client, exceptions as dyn_errors

#: The class the library gives each error status (asked outside an ``except`` block, where
#: ``api_exception`` finds no traceback to format).
CLASSES: dict[int, type[dyn_errors.DynamicApiError]] = {
    status: type(dyn_errors.api_exception(ApiException(status=status)))  # type: ignore[no-untyped-call]
    for status in range(400, 600)
}


def api_exception(error: ApiException) -> dyn_errors.DynamicApiError:
    """What ``kubernetes.dynamic.exceptions.api_exception`` returns, without the traceback."""
    return CLASSES.get(error.status, dyn_errors.DynamicApiError)(error)


def install() -> None:
    """Make the dynamic client raise its errors through ``api_exception`` above."""
    dynamic_client.api_exception = api_exception  # type: ignore[attr-defined]
