"""Flux's ``kustomize.toolkit.fluxcd.io/prune: disabled`` written as a label is honoured.

Flux home-lab repositories built on the cluster-template layout put it on every
``namespace.yaml`` as a *label* (``metadata.labels``), and Flux's own docs show both forms:
kustomize-controller matches its selectors on labels and annotations alike, the value in
any case (fluxcd/pkg ``ssa/utils.AnyInMetadata``; the same for ``.../force: enabled``). The
deployer read only the annotation: such an object that left git was pruned, where Flux
leaves it in place.

Flux cannot run here: the reference is that rule, read from fluxcd/pkg, and what the real API
server keeps after a pruning sync. The fixture is written anew.
"""

from __future__ import annotations

from pathlib import Path

from kubernetes import client, config

from tests.gitops import cm, dump, make_gitops
from tests.plugins.cluster import ControlPlane
from webhook.hooks import recreates

PRUNE = "kustomize.toolkit.fluxcd.io/prune"


def _config_maps(cp: ControlPlane, namespace: str) -> list[str]:
    api = config.new_client_from_config(config_file=str(cp.kubeconfig))
    try:
        items = client.CoreV1Api(api).list_namespaced_config_map(namespace).items
    finally:
        api.close()
    return sorted(i.metadata.name for i in items if not i.metadata.name.startswith("kube-"))


def test_a_prune_disabled_label_keeps_the_object_when_it_leaves_git(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    ops = make_gitops(tmp_path, control_plane.kubeconfig, namespace)
    kept = cm("kept", labels={PRUNE: "Disabled"})
    sha = ops.commit({"apps/shop/a.yaml": dump(kept, cm("gone"), cm("stays"))})
    first = ops.sync(sha, prune=True)
    assert first.ok, first.errors

    result = ops.sync(ops.commit({"apps/shop/a.yaml": dump(cm("stays"))}), prune=True)

    assert result.ok, result.errors
    assert list(result.pruned) == [f"ConfigMap {namespace}/gone"]
    assert _config_maps(control_plane, namespace) == ["applyset-shop", "kept", "stays"]


def test_a_force_enabled_label_asks_for_recreation_as_the_annotation_does() -> None:
    labelled = cm("job", labels={"kustomize.toolkit.fluxcd.io/force": "Enabled"})
    assert recreates(labelled)
    assert not recreates(cm("job", labels={"kustomize.toolkit.fluxcd.io/force": "disabled"}))
