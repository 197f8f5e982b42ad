"""Clusters kept across syncs: a sync reuses warm connections and a loaded discovery cache.

A new ``Cluster`` per sync opened new TLS connections for every request of its first wide
tier and parsed its discovery cache file again. Owns: one ``Cluster`` per (context,
impersonated user), rebuilt when ``client_configuration`` reads the configuration again (a
changed kubeconfig, or one older than ``CONFIG_MAX_AGE``: credentials are never kept longer
than they were before), at most ``KEEP`` of them, the least recently used leaving first.
A ``Cluster`` is safe to share between threads (its discovery is serialised; urllib3's pool
is thread-safe). Must not touch: what a sync does with its cluster.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from webhook.kube.client import Cluster, client_configuration

#: Clusters kept (apps with their own ServiceAccount each have one).
KEEP = 32


class Connections:
    """The clusters of one engine, by (context, impersonated user)."""

    def __init__(self, cache_dir: Path, kubeconfig: Path | None) -> None:
        self.cache_dir = cache_dir
        self.kubeconfig = kubeconfig
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple[str | None, str | None], Cluster] = OrderedDict()

    def cluster(self, context: str | None, impersonate: str | None) -> Cluster:
        """The kept cluster for ``context`` as ``impersonate``, or a new one when there is
        none or its configuration was read again. A cluster that leaves is not closed: a
        sync on another thread may still use it; its connections close when it is freed."""
        configuration = client_configuration(context, self.kubeconfig)
        key = (context, impersonate)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and kept.configuration is configuration:
                self._kept.move_to_end(key)
                return kept
        cluster = Cluster(
            context=context,
            cache_dir=self.cache_dir,
            kubeconfig=self.kubeconfig,
            impersonate=impersonate,
            configuration=configuration,
        )
        with self._lock:
            self._kept[key] = cluster
            self._kept.move_to_end(key)
            while len(self._kept) > KEEP:
                self._kept.popitem(last=False)
        return cluster
