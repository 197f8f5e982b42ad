"""The Pod Security Standards' baseline level, checked on every pod template an app renders.

Kubernetes' Pod Security admission enforces a level only in namespaces labelled for it, and
most namespaces are not; a privileged or hostPath Pod there owns its node. So the guard checks
the baseline level itself, on repository content, before anything is applied. The controls and
their allowed values follow the level as Kubernetes 1.34 defines it (pod-security-admission's
``policy/check_*.go``): host namespaces, privileged, capabilities, hostPath, hostPorts, Windows
hostProcess, AppArmor, SELinux, procMount, seccomp, sysctls, host probes and lifecycle hooks.
A value Kubernetes does not allow is a violation, so odd types are refused too; shapes that are
not mappings or lists where Kubernetes expects them are skipped: the API server rejects them.
Owns: pure functions over plain dicts. Must not touch: the cluster, the settings, the guard.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

LEVEL = "(pod_security: baseline)"

#: Where the pod (its ``metadata`` and ``spec``) sits in each kind that runs or holds pods.
TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "Pod"): (),
    ("", "PodTemplate"): ("template",),
    ("", "ReplicationController"): ("spec", "template"),
    ("apps", "Deployment"): ("spec", "template"),
    ("apps", "StatefulSet"): ("spec", "template"),
    ("apps", "DaemonSet"): ("spec", "template"),
    ("apps", "ReplicaSet"): ("spec", "template"),
    ("batch", "Job"): ("spec", "template"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template"),
}

CAPABILITIES = frozenset(
    {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD"}
    | {"NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
)
SAFE_SYSCTLS = frozenset(
    {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies"}
    | {"net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start"}
    | {"net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time"}
    | {"net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl"}
    | {"net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}
)
SELINUX_TYPES = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
CONTAINER_LISTS = (
    ("containers", "container"),
    ("initContainers", "init container"),
    ("ephemeralContainers", "ephemeral container"),
)
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
SECCOMP_ANNOTATIONS = ("seccomp.security.alpha.kubernetes.io/pod",)
SECCOMP_CONTAINER_ANNOTATION = "container.seccomp.security.alpha.kubernetes.io/"

Allowed = Callable[[object], bool]


def _unset_or_false(value: object) -> bool:
    return value is None or value is False


def _unset_or_empty(value: object) -> bool:
    return value is None or value == ""


def _one_of(*values: str) -> Allowed:
    """Unset, or one of ``values`` (a string: any other type is a violation too)."""
    return lambda value: value is None or (isinstance(value, str) and value in values)


_profile = _one_of("RuntimeDefault", "Localhost")

#: Fields of every security context (pod and container alike) and their allowed values.
CONTEXT_FIELDS: tuple[tuple[str, Allowed], ...] = (
    ("windowsOptions.hostProcess", _unset_or_false),
    ("seLinuxOptions.type", _one_of(*SELINUX_TYPES)),
    ("seLinuxOptions.user", _unset_or_empty),
    ("seLinuxOptions.role", _unset_or_empty),
    ("seccompProfile.type", _profile),
    ("appArmorProfile.type", _profile),
)
POD_FIELDS: tuple[tuple[str, Allowed], ...] = (
    ("hostNetwork", _unset_or_false),
    ("hostPID", _unset_or_false),
    ("hostIPC", _unset_or_false),
    *((f"securityContext.{path}", allowed) for path, allowed in CONTEXT_FIELDS),
)
CONTAINER_FIELDS: tuple[tuple[str, Allowed], ...] = (
    ("securityContext.privileged", _unset_or_false),
    ("securityContext.procMount", _one_of("Default")),
    *((f"securityContext.{path}", allowed) for path, allowed in CONTEXT_FIELDS),
    # A probe or hook with a host reaches whatever that host is, from the node's network.
    *(
        (f"{handler}.{action}.host", _unset_or_empty)
        for handler in ("livenessProbe", "readinessProbe", "startupProbe")
        for action in ("httpGet", "tcpSocket")
    ),
    *(
        (f"lifecycle.{hook}.{action}.host", _unset_or_empty)
        for hook in ("postStart", "preStop")
        for action in ("httpGet", "tcpSocket")
    ),
)


def _get(data: object, path: str) -> object:
    """The value at a dotted path, or None where the path is missing or not a mapping."""
    for key in path.split("."):
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _items(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _show(value: object) -> str:
    try:
        text = json.dumps(value, sort_keys=True, default=repr)
    except (ValueError, TypeError, RecursionError):
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 80 else f"{text[:77]}..."


def _fields(data: object, table: tuple[tuple[str, Allowed], ...], prefix: str) -> Iterator[str]:
    for path, allowed in table:
        value = _get(data, path)
        if not allowed(value):
            yield f"{prefix}{path} is {_show(value)}"


def _annotations(metadata: object, where: str) -> Iterator[str]:
    annotations = _get(metadata, "annotations")
    if not isinstance(annotations, Mapping):
        return
    for key, value in sorted(annotations.items(), key=lambda item: str(item[0])):
        if not isinstance(key, str):
            continue
        if key.startswith(APPARMOR_ANNOTATION):
            good: tuple[str, ...] = ("", "runtime/default")
        elif key in SECCOMP_ANNOTATIONS or key.startswith(SECCOMP_CONTAINER_ANNOTATION):
            good = ("runtime/default", "docker/default")
        else:
            continue
        if not isinstance(value, str) or not (value in good or value.startswith("localhost/")):
            yield f"{where}.annotations[{_show(key)}] is {_show(value)}"


def _container(container: Mapping[str, Any], label: str) -> Iterator[str]:
    yield from _fields(container, CONTAINER_FIELDS, f"{label}: ")
    for capability in _items(_get(container, "securityContext.capabilities.add")):
        if not (isinstance(capability, str) and capability in CAPABILITIES):
            yield f"{label}: securityContext.capabilities.add has {_show(capability)}"
    for index, port in enumerate(_items(container.get("ports"))):
        host_port = _get(port, "hostPort")
        if host_port is not None and host_port != 0:
            yield f"{label}: ports[{index}].hostPort is {_show(host_port)}"


def _containers(spec: Mapping[str, Any]) -> Iterator[str]:
    for field, noun in CONTAINER_LISTS:
        for index, container in enumerate(_items(spec.get(field))):
            if isinstance(container, Mapping):
                name = container.get("name")
                label = f"{noun} {_show(name)}" if isinstance(name, str) else f"{field}[{index}]"
                yield from _container(container, label)


def pod_spec_violations(metadata: object, spec: object, where: str = "") -> list[str]:
    """Every baseline violation of one pod (its metadata and spec), one line each.

    ``where`` is the path of the pod inside its object (``spec.template.``), for messages.
    """
    if not isinstance(spec, Mapping):
        return []
    found = list(_annotations(metadata, f"{where}metadata"))
    found += _fields(spec, POD_FIELDS, f"{where}spec.")
    for volume in _items(spec.get("volumes")):
        if isinstance(volume, Mapping) and volume.get("hostPath") is not None:
            volume_name = _show(volume.get("name"))
            found.append(f"{where}spec.volumes[{volume_name}]: hostPath volumes are not allowed")
    for sysctl in _items(_get(spec, "securityContext.sysctls")):
        name = _get(sysctl, "name")
        if name is not None and not (isinstance(name, str) and name in SAFE_SYSCTLS):
            found.append(f"{where}spec.securityContext.sysctls has unsafe {_show(name)}")
    found += _containers(spec)
    return [f"{line} {LEVEL}" for line in found]


def pod_of(group: str, kind: str, body: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """The pod (``metadata`` and ``spec``) ``body`` runs or holds, and its path (``spec.template.``
    for messages); None for kinds that hold no pods, or a pod that is not a mapping."""
    path = TEMPLATES.get((group, kind))
    if path is None:
        return None
    pod: object = body
    for key in path:
        pod = pod.get(key) if isinstance(pod, Mapping) else None
    if not isinstance(pod, Mapping):
        return None
    return "".join(f"{key}." for key in path), pod


def violations(group: str, kind: str, body: Mapping[str, Any]) -> list[str]:
    """Baseline violations of the pod template in ``body``; [] for kinds that hold no pods."""
    found = pod_of(group, kind, body)
    if found is None:
        return []
    where, pod = found
    return pod_spec_violations(pod.get("metadata"), pod.get("spec"), where)
