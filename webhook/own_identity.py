"""Who the deployer itself is in its cluster: its namespace and its ServiceAccount.

Repository content is untrusted, and the deployer's ServiceAccount holds broad rights. An app
that could run a Pod as that account (and read its token), bind it, or write into the
deployer's namespace (its Deployment, its ConfigMap, the Secret holding the webhook secret)
would hand itself those rights. The config check (``webhook.settings``) and the guard refuse
that; this module only says whom to protect.
Owns: ``DEPLOYER_NAMESPACE`` and ``DEPLOYER_SERVICE_ACCOUNT`` (the chart sets both through
the downward API) and, when the first is unset, the namespace file Kubernetes mounts into
every pod with a token. Must not touch: the cluster, the config file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: Where Kubernetes mounts the pod's namespace beside its ServiceAccount token.
NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


@dataclass(frozen=True, kw_only=True)
class OwnIdentity:
    """The deployer's namespace and ServiceAccount; None where unknown (outside a cluster,
    nothing is protected, as nothing of the deployer's lives in one)."""

    namespace: str | None = None
    #: Meaningful only with ``namespace``: a ServiceAccount lives in a namespace.
    service_account: str | None = None

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str] = os.environ, namespace_file: Path = NAMESPACE_FILE
    ) -> OwnIdentity:
        namespace = (environ.get("DEPLOYER_NAMESPACE") or "").strip() or _read(namespace_file)
        account = (environ.get("DEPLOYER_SERVICE_ACCOUNT") or "").strip()
        return cls(namespace=namespace or None, service_account=(namespace and account) or None)

    @property
    def username(self) -> str | None:
        """The user name Kubernetes gives the ServiceAccount's token, as RBAC subjects name it."""
        if self.namespace is None or self.service_account is None:
            return None
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    def __str__(self) -> str:
        if self.service_account:
            return f"ServiceAccount {self.namespace}/{self.service_account}"
        return f"namespace {self.namespace}"
