"""Fields of an app's objects whose effect reaches past the app's own objects.

Most kinds act within their namespace, but a few fields act on traffic or rights of the
whole cluster or of another app, and RBAC does not see them: creating a Service, an
EndpointSlice or (with ``ClusterRole`` in ``allowed_cluster_kinds``) a ClusterRole is an
ordinary right of an app. The guard refuses:

- a Service's ``spec.externalIPs``: kube-proxy on every node then captures traffic to those
  addresses from every Pod, whoever it was meant for (CVE-2020-8554, which Kubernetes leaves
  to admission control); only with ``allow_service_external_ips``;
- an EndpointSlice labelled ``kubernetes.io/service-name`` or Endpoints named like a Service,
  for a Service the app does not render itself: kube-proxy adds its addresses to that Service,
  so an app sharing a namespace would receive part of another app's traffic;
- a ClusterRole labelled ``rbac.authorization.k8s.io/aggregate-to-*`` (its rules join the
  built-in ``admin``, ``edit`` and ``view`` roles, so everyone bound to them in any namespace
  gets them) or with an ``aggregationRule`` (it collects the rules of every ClusterRole it
  selects, ``cluster-admin`` included); only with ``allow_role_aggregation``;
- a pod template's ``priorityClassName`` of a ``system-`` class (``system-node-critical``,
  ``system-cluster-critical``, the control plane's own, which Kubernetes admits in any
  namespace): the scheduler then evicts other apps' Pods anywhere in the cluster to
  make room, and the kubelet evicts them first under pressure; only with
  ``pod_security: privileged`` (the node agents that need it);
- a Namespace outside the app's allowed namespaces (with ``Namespace`` in
  ``allowed_cluster_kinds``): the app would own a namespace another app deploys into (made
  before that app's first sync), and its prune would delete it with everything in it.

Owns: these checks, one line per problem. Must not touch: the cluster, the other guard rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from webhook import pod_security
from webhook.objects import ObjectRef
from webhook.settings import AppConfig

RBAC_GROUP = "rbac.authorization.k8s.io"
AGGREGATE_TO = "rbac.authorization.k8s.io/aggregate-to-"
SERVICE_NAME = "kubernetes.io/service-name"
#: Kubernetes reserves this prefix of PriorityClass names for its built-in classes.
SYSTEM_PRIORITY = "system-"

#: (namespace, name) of a Service.
Service = tuple[str, str]


def own_services(bodies: Iterable[object], namespace: str) -> set[Service]:
    """(namespace, name) of the Services the app renders (``namespace``: the default)."""
    out: set[Service] = set()
    for body in bodies:
        if not isinstance(body, dict) or (body.get("apiVersion"), body.get("kind")) != (
            "v1",
            "Service",
        ):
            continue
        meta = body.get("metadata")
        if isinstance(meta, dict) and isinstance(meta.get("name"), str):
            out.add((str(meta.get("namespace") or namespace), meta["name"]))
    return out


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _external_ips(app: AppConfig, body: Mapping[str, Any]) -> list[str]:
    ips = _mapping(body.get("spec")).get("externalIPs")
    if not ips or app.allow_service_external_ips:
        return []
    shown = ", ".join(str(ip) for ip in ips) if isinstance(ips, list) else repr(ips)
    return [
        f"spec.externalIPs ({shown}): kube-proxy on every node would capture the cluster's "
        "traffic to these addresses, whoever it is meant for (CVE-2020-8554); remove the "
        f"field (use type: LoadBalancer), or set allow_service_external_ips on app {app.name}"
    ]


def _endpoints(ref: ObjectRef, body: Mapping[str, Any], services: set[Service]) -> list[str]:
    service: object
    if (ref.group, ref.kind) == ("", "Endpoints"):
        service, where = ref.name, "its name"
    elif (ref.group, ref.kind) == ("discovery.k8s.io", "EndpointSlice"):
        labels = _mapping(_mapping(body.get("metadata")).get("labels"))
        service, where = labels.get(SERVICE_NAME), f"label {SERVICE_NAME}"
        if not service:
            return []  # attached to no Service: no traffic reaches it
    else:
        return []
    if (ref.namespace, service) in services:
        return []
    return [
        f"{where} adds addresses to Service {service!r}, which this app does not render: "
        "kube-proxy would send part of that Service's traffic there; render the Service in "
        "this app, or remove this object"
    ]


def _aggregation(app: AppConfig, ref: ObjectRef, body: Mapping[str, Any]) -> list[str]:
    if (ref.group, ref.kind) != (RBAC_GROUP, "ClusterRole") or app.allow_role_aggregation:
        return []
    labels = _mapping(_mapping(body.get("metadata")).get("labels"))
    problems = [
        f"label {key}: its rules would join the built-in roles it names, granted to everyone "
        "bound to them in every namespace"
        for key in sorted(k for k in labels if k.startswith(AGGREGATE_TO))
    ]
    if body.get("aggregationRule") is not None:
        problems.append(
            "aggregationRule: it would collect the rules of every ClusterRole it selects "
            "(cluster-admin's too)"
        )
    hint = f"; remove it, or set allow_role_aggregation on app {app.name}"
    return [p + hint for p in problems]


def _priority(app: AppConfig, ref: ObjectRef, body: Mapping[str, Any]) -> list[str]:
    found = pod_security.pod_of(ref.group, ref.kind, body)
    if found is None or app.pod_security == "privileged":
        return []
    where, pod = found
    name = _mapping(pod.get("spec")).get("priorityClassName")
    if not isinstance(name, str) or not name.startswith(SYSTEM_PRIORITY):
        return []
    return [
        f"{where}spec.priorityClassName {name!r} is the control plane's own priority: the "
        "scheduler would evict other apps' Pods anywhere in the cluster to make room for "
        "these; use a priority class of the cluster's operators, or set pod_security: "
        f"privileged on app {app.name} if it runs node agents"
    ]


def _namespace(app: AppConfig, ref: ObjectRef) -> list[str]:
    allowed = app.effective_allowed_namespaces
    if (ref.group, ref.kind) != ("", "Namespace") or ref.name in allowed:
        return []
    return [
        f"is not one of app {app.name}'s allowed namespaces ({', '.join(allowed)}): an app "
        "may own only namespaces it deploys into (its prune would delete one with everything "
        "in it); add it to allowed_namespaces"
    ]


def problems(
    app: AppConfig, ref: ObjectRef, body: Mapping[str, Any], services: set[Service]
) -> list[str]:
    """What in ``body`` reaches past the app (see the module docstring); ``services``: the
    app's own Services (``own_services``)."""
    out = _endpoints(ref, body, services)
    if (ref.group, ref.kind) == ("", "Service"):
        out += _external_ips(app, body)
    out += _aggregation(app, ref, body) + _priority(app, ref, body)
    return out + _namespace(app, ref)
