"""Services and endpoints whose traffic reaches past the app, on the real control plane.

Creating a Service or an EndpointSlice is an ordinary right of an app, so neither RBAC nor
the API server stops two ways to take traffic that is not the app's:

- ``spec.externalIPs`` (CVE-2020-8554): kube-proxy on every node captures traffic to those
  addresses from every Pod of the cluster, e.g. to an outside database or another
  Service's address, and hands it to the app's Pods;
- an EndpointSlice labelled ``kubernetes.io/service-name: <another app's Service>`` (or
  Endpoints named like it) in a namespace two apps share: kube-proxy, which selects slices
  by that label, adds its addresses to the other app's Service.

Each refusal must name the field and the way out, with nothing applied (read back from the
cluster); the opt-in and the app's own Services show the API server admits the objects, so
the guard is what stops them. No kube-proxy runs here: the effect checked is what kube-proxy
reads (the Service's ``externalIPs``, the slices listed by the service-name label).
"""

from __future__ import annotations

from typing import Any

from kubernetes.dynamic import DynamicClient

from tests.gitops import GitOps, cm, dump, live, service
from tests.test_hostile_guard import app_config, sync
from webhook.guard import check
from webhook.render import Rendered

OUTSIDE = "203.0.113.7"  # TEST-NET-3: the address of "the database" the app would capture
SERVICE_NAME = "kubernetes.io/service-name"


def external(name: str) -> dict[str, Any]:
    body = service(name)
    body["spec"]["externalIPs"] = [OUTSIDE]
    return body


def slice_for(name: str, target: str, address: str = "10.0.0.66") -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "labels": {
                SERVICE_NAME: target,
                "endpointslice.kubernetes.io/managed-by": "gitops.example",
            },
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address]}],
        "ports": [{"name": "", "port": 8080, "protocol": "TCP"}],
    }


def endpoints_for(target: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": target},
        "subsets": [{"addresses": [{"ip": "10.0.0.66"}], "ports": [{"port": 8080}]}],
    }


def slices_of(dyn: DynamicClient, namespace: str, target: str) -> list[str]:
    """The EndpointSlices kube-proxy would merge into Service ``target``."""
    kind = dyn.resources.get(api_version="discovery.k8s.io/v1", kind="EndpointSlice")
    found = kind.get(namespace=namespace, label_selector=f"{SERVICE_NAME}={target}")
    return sorted(item.metadata.name for item in found.items)


def test_a_service_with_external_ips_is_refused_unless_the_app_opts_in(
    gitops: GitOps, dyn: DynamicClient
) -> None:
    ns = gitops.namespace
    the_app = app_config("shop", ns)
    sha = gitops.commit({"apps/shop/app.yaml": dump(external("front"), cm("fine"))})
    result = sync(gitops, the_app, sha)
    assert result.error_kind == "guard"
    assert (
        f"Service front: spec.externalIPs ({OUTSIDE}): kube-proxy on every node would capture "
        "the cluster's traffic to these addresses, whoever it is meant for (CVE-2020-8554); "
        "remove the field (use type: LoadBalancer), or set allow_service_external_ips on app "
        "shop"
    ) in (result.error or "")
    assert live(dyn, "Service", "front", ns) is None
    assert live(dyn, "ConfigMap", "fine", ns) is None  # refused as a whole: nothing written
    # The API server itself admits it: the opt-in applies it as written.
    result = sync(gitops, the_app.model_copy(update={"allow_service_external_ips": True}), sha)
    assert result.ok, result.error
    assert live(dyn, "Service", "front", ns)["spec"]["externalIPs"] == [OUTSIDE]


def test_endpoints_for_another_apps_service_are_refused(gitops: GitOps, dyn: DynamicClient) -> None:
    ns = gitops.namespace
    alpha, beta = app_config("alpha", ns), app_config("beta", ns)  # one shared namespace
    first = gitops.commit({"apps/alpha/svc.yaml": dump(service("pay"))})
    assert sync(gitops, alpha, first, beta).ok
    hostile = dump(slice_for("pay-extra", "pay"), endpoints_for("pay"), cm("fine"))
    sha = gitops.commit({"apps/beta/app.yaml": hostile})
    result = sync(gitops, beta, sha, alpha)
    assert result.error_kind == "guard"
    because = (
        "adds addresses to Service 'pay', which this app does not render: kube-proxy would "
        "send part of that Service's traffic there; render the Service in this app, or "
        "remove this object"
    )
    assert list(result.errors) == [
        f"apps/beta/app.yaml:1: EndpointSlice pay-extra: label {SERVICE_NAME} {because}",
        f"apps/beta/app.yaml:17: Endpoints pay: its name {because}",
    ]
    assert slices_of(dyn, ns, "pay") == []
    assert live(dyn, "Endpoints", "pay", ns) is None
    assert live(dyn, "ConfigMap", "fine", ns) is None
    # Endpoints of a Service the app renders itself (one without a selector) are its own.
    own = service("cache")
    del own["spec"]["selector"]
    sha = gitops.commit({"apps/beta/app.yaml": dump(own, slice_for("cache-1", "cache"))})
    result = sync(gitops, beta, sha, alpha)
    assert result.ok, result.error
    assert slices_of(dyn, ns, "cache") == ["cache-1"]


def test_a_slice_of_no_service_and_an_empty_external_ips_list_pass() -> None:
    detached = slice_for("loose", "pay")
    del detached["metadata"]["labels"][SERVICE_NAME]
    plain = service("front")
    plain["spec"]["externalIPs"] = []
    objects = [Rendered(body=b, source="a.yaml:1") for b in (detached, plain)]
    out = check(objects, app_config("shop", "shop"), lambda api_version, kind: True)
    assert [o["metadata"]["name"] for o in out] == ["loose", "front"]
