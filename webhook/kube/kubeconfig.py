"""The client configuration of a cluster: a kubeconfig context, or the pod's own cluster.

Read once while its source is unchanged and younger than ``CONFIG_MAX_AGE``; an exec plugin
that yields no credentials is an outage that says so. Must not touch: requests, discovery.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from kubernetes import client as k8s_client, config as k8s_config

from webhook.errors import Unavailable
from webhook.kube.kube_errors import translated

IN_CLUSTER = "in-cluster"


#: Seconds a client configuration stays in use (a kubeconfig file also while it is unchanged):
#: credentials an exec plugin issued are fetched again at least this often (tokens also
#: refresh on expiry by themselves; the in-cluster token file is read again every minute by
#: the client's own refresh hook).
CONFIG_MAX_AGE = 300.0
_configs: dict[tuple[str | None, str, int, int], tuple[float, k8s_client.Configuration]] = {}
_configs_lock = threading.Lock()


def client_configuration(context: str | None, kubeconfig: Path | None) -> k8s_client.Configuration:
    """The client configuration for ``context``, read once while its source is unchanged and
    younger than ``CONFIG_MAX_AGE`` (reading and parsing a kubeconfig took 120 ms of every
    sync). The same object comes back while it is valid, so callers may key on it."""
    path = Path(kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config").expanduser()
    try:
        stat = path.stat()
        source = (str(path), stat.st_mtime_ns, stat.st_size)
    except OSError:
        if not _in_cluster(context, path):
            return _read_configuration(context, kubeconfig)  # it says what is missing
        source = (IN_CLUSTER, 0, 0)
    key = (context, *source)
    now = time.monotonic()
    with _configs_lock:
        cached = _configs.get(key)
    if cached is not None and now - cached[0] < CONFIG_MAX_AGE:
        return cached[1]
    configuration = _read_configuration(context, kubeconfig)
    if configuration.host:
        with _configs_lock:
            # An older read of the same context goes; other contexts stay.
            for old in [k for k in _configs if k[0] == context]:
                del _configs[old]
            _configs[key] = (now, configuration)
    return configuration


def _in_cluster(context: str | None, path: Path) -> bool:
    """In a pod with no kubeconfig, "the current context" is the pod's own cluster."""
    in_pod = context is None and "KUBERNETES_SERVICE_HOST" in os.environ
    return context == IN_CLUSTER or (in_pod and not path.exists())


def _read_configuration(context: str | None, kubeconfig: Path | None) -> k8s_client.Configuration:
    configuration = k8s_client.Configuration()
    with translated(f"cluster {context or '(current context)'}"):
        path = Path(kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config").expanduser()
        if _in_cluster(context, path):
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(path),
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
    has_credentials = (
        any(configuration.api_key.values()) or configuration.cert_file or configuration.username
    )
    if not has_credentials:
        # Exec plugins (kubelogin) only log their failures: check the result ourselves.
        raise Unavailable(
            f"cluster {context or '(current context)'}: the kubeconfig yielded no credentials "
            "(did its exec plugin fail?)"
        )
    # One client serves every sync thread of the worker (``connections``), each sending a
    # tier several wide: connections beyond this are opened and closed per request.
    configuration.connection_pool_maxsize = 64
    return configuration
