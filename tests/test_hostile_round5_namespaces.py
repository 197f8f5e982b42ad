"""A Namespace an app renders outside its allowed namespaces, on the real control plane.

``allowed_cluster_kinds: [Namespace]`` is meant to let an app create its own namespace. But
the guard held only the app's namespaced objects to ``allowed_namespaces``: a Namespace
object could have any name. An app could create (and so own) the namespace another app is
configured to deploy into, before that app's first sync; the other app then deploys into
it, and once the Namespace leaves the first app's git its prune (``prune_cluster_scoped``)
deletes it with everything in it. The guard now refuses a Namespace outside the app's
allowed namespaces; listing it there is the way to mean it.
"""

from __future__ import annotations

from kubernetes import client as k8s

from tests.gitops import GitOps, cm, dump
from tests.test_hostile_guard import app_config, sync


def test_an_app_cannot_own_a_namespace_outside_its_allowed_namespaces(
    gitops: GitOps, k8s_api_client: k8s.ApiClient
) -> None:
    core = k8s.CoreV1Api(k8s_api_client)
    ns = gitops.namespace
    theirs = f"{ns[:50]}-pay"  # where app `pay` deploys; it does not exist yet
    squatter = app_config(
        "shop", ns, allowed_cluster_kinds=("Namespace",), prune=True, prune_cluster_scoped=True
    )
    pay = app_config("pay", theirs)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": theirs}}
    sha = gitops.commit({"apps/shop/ns.yaml": dump(namespace), "apps/shop/a.yaml": dump(cm("a"))})
    try:
        result = sync(gitops, squatter, sha, pay)
        assert result.error_kind == "guard"
        assert list(result.errors) == [
            f"apps/shop/ns.yaml:1: Namespace {theirs}: is not one of app shop's allowed "
            f"namespaces ({ns}): an app may own only namespaces it deploys into (its prune "
            "would delete one with everything in it); add it to allowed_namespaces"
        ]
        names = {item.metadata.name for item in core.list_namespace().items}
        assert theirs not in names
        # Meant, it is listed: the API server creates it for this app.
        meant = squatter.model_copy(update={"allowed_namespaces": (ns, theirs)})
        result = sync(gitops, meant, sha, pay)
        assert result.ok, result.error
        assert core.read_namespace(theirs).status.phase == "Active"
    finally:
        try:
            core.delete_namespace(theirs)
        except k8s.ApiException as exc:
            if exc.status != 404:
                raise
