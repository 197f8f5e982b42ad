"""The project's error vocabulary: what a caller should do about a failure.

Owns: the few classes every layer raises, with the library's exception chained as the cause
(as kopf's ``_cogs/clients/errors.py`` does), so one place, the job step, decides between
"retry later" and "the content is wrong" without knowing which library failed.
Must not touch: anything else; this module imports nothing of the project.

- ``Unavailable``: git, the cluster, GitHub or the store could not be reached, refused our
  credentials or asked us to slow down. Not the commit's fault: worth a retry.
- ``Rejected``: the input itself is wrong (a commit, its manifests, a request GitHub or the
  cluster refused on its merits). Sending it again unchanged will fail the same way.
"""

from __future__ import annotations


class DeployerError(Exception):
    """Base of every error the deployer raises on purpose."""


class Unavailable(DeployerError):
    """A dependency cannot serve us now; ``retry_after`` (seconds) is its own hint, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Rejected(DeployerError):
    """The input is wrong; the message names the file, object or request, and why."""
