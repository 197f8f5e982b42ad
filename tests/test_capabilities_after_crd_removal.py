"""Helm's Capabilities when an API group the discovery cache lists has since gone away.

The dynamic client lists the API groups once (the list is kept in the discovery cache file,
which ``Cluster.capabilities`` reuses for up to ``CAPABILITIES_MAX_AGE``) and reads each
group's resources only when it first walks them. A CRD removed between the two (an operator
uninstalled) answered that read with a 404, and every Helm app's sync failed on it, naming
"discovery", until the cache aged out. Real API server; the CRD is the test's own.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError

from tests.gitops import widget_crd
from tests.plugins.cluster import ControlPlane
from webhook.kube.client import Cluster


def _served(dyn: DynamicClient, group: str) -> bool:
    try:
        dyn.request("GET", f"/apis/{group}/v1")
    except NotFoundError:
        return False
    return True


def _until(condition: object, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"not within 60 s: {what}")


def test_a_group_gone_since_discovery_listed_it_is_read_again_not_a_failure(
    control_plane: ControlPlane, dyn: DynamicClient, tmp_path: Path
) -> None:
    group = f"g{uuid.uuid4().hex[:8]}.example.com"
    crds = dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    crds.create(body=widget_crd(group, {}))
    try:
        _until(lambda: _served(dyn, group), f"{group}/v1 served")
        # Its dynamic client lists the groups, the new one among them, and reads none yet.
        cluster = Cluster(context=None, cache_dir=tmp_path, kubeconfig=control_plane.kubeconfig)
    finally:
        crds.delete(name=f"widgets.{group}")
    _until(lambda: not _served(dyn, group), f"{group}/v1 gone")

    version, served = cluster.capabilities()
    assert version.startswith("v1.") and "v1/ConfigMap" in served
    assert not [s for s in served if s.startswith(f"{group}/")]
