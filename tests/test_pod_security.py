"""The baseline Pod Security level on every pod template an app renders, without a cluster.

Each control of the level (Kubernetes 1.34) gets a case that breaks it and a case at the edge
of what it allows; every kind that holds a pod template is found; arbitrary data never raises.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.profiles import examples
from tests.test_guard_properties import json_scalars, json_values
from webhook.guard import GuardError, check
from webhook.pod_security import TEMPLATES, pod_spec_violations, violations
from webhook.render import Rendered
from webhook.settings import AppConfig

APP = AppConfig(name="shop", repo="o/r", path="apps/shop", namespace="shop")


def pod_spec(**changes: Any) -> dict[str, Any]:
    return {"containers": [{"name": "app", "image": "nginx"}], **changes}


def with_container(**changes: Any) -> dict[str, Any]:
    return pod_spec(containers=[{"name": "app", "image": "nginx", **changes}])


def context(**fields: Any) -> dict[str, Any]:
    return with_container(securityContext=fields)


def pod(spec: dict[str, Any], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "web"}
    if annotations is not None:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


APPARMOR = "container.apparmor.security.beta.kubernetes.io/app"
SECCOMP = "seccomp.security.alpha.kubernetes.io/pod"
FORBIDDEN: list[tuple[str, dict[str, Any], dict[str, str] | None, str]] = [
    ("host-network", pod_spec(hostNetwork=True), None, "spec.hostNetwork is true"),
    ("host-pid", pod_spec(hostPID=True), None, "spec.hostPID is true"),
    ("host-ipc", pod_spec(hostIPC=True), None, "spec.hostIPC is true"),
    ("privileged", context(privileged=True), None, 'container "app": securityContext.privileged'),
    (
        "privileged-init",
        pod_spec(initContainers=[{"name": "setup", "securityContext": {"privileged": True}}]),
        None,
        'init container "setup": securityContext.privileged is true',
    ),
    (
        "privileged-ephemeral",
        pod_spec(ephemeralContainers=[{"name": "dbg", "securityContext": {"privileged": True}}]),
        None,
        'ephemeral container "dbg": securityContext.privileged is true',
    ),
    ("privileged-not-a-bool", context(privileged="yes"), None, 'privileged is "yes"'),
    (
        "sys-admin",
        context(capabilities={"add": ["NET_BIND_SERVICE", "SYS_ADMIN"]}),
        None,
        'securityContext.capabilities.add has "SYS_ADMIN"',
    ),
    ("net-raw", context(capabilities={"add": ["NET_RAW"]}), None, 'add has "NET_RAW"'),
    (
        "host-path",
        pod_spec(volumes=[{"name": "root", "hostPath": {"path": "/"}}]),
        None,
        'spec.volumes["root"]: hostPath volumes are not allowed',
    ),
    (
        "host-port",
        with_container(ports=[{"containerPort": 80, "hostPort": 80}]),
        None,
        'container "app": ports[0].hostPort is 80',
    ),
    (
        "host-process-pod",
        pod_spec(securityContext={"windowsOptions": {"hostProcess": True}}),
        None,
        "spec.securityContext.windowsOptions.hostProcess is true",
    ),
    (
        "host-process-container",
        context(windowsOptions={"hostProcess": True}),
        None,
        "securityContext.windowsOptions.hostProcess is true",
    ),
    ("apparmor-annotation", pod_spec(), {APPARMOR: "unconfined"}, f'["{APPARMOR}"] is "unc'),
    (
        "apparmor-field",
        context(appArmorProfile={"type": "Unconfined"}),
        None,
        'securityContext.appArmorProfile.type is "Unconfined"',
    ),
    (
        "apparmor-pod-field",
        pod_spec(securityContext={"appArmorProfile": {"type": "Unconfined"}}),
        None,
        'spec.securityContext.appArmorProfile.type is "Unconfined"',
    ),
    (
        "selinux-type",
        context(seLinuxOptions={"type": "spc_t"}),
        None,
        'seLinuxOptions.type is "spc_t"',
    ),
    (
        "selinux-user",
        pod_spec(securityContext={"seLinuxOptions": {"user": "system_u"}}),
        None,
        'spec.securityContext.seLinuxOptions.user is "system_u"',
    ),
    ("selinux-role", context(seLinuxOptions={"role": "sysadm_r"}), None, 'role is "sysadm_r"'),
    ("proc-mount", context(procMount="Unmasked"), None, 'procMount is "Unmasked"'),
    (
        "seccomp-pod",
        pod_spec(securityContext={"seccompProfile": {"type": "Unconfined"}}),
        None,
        'spec.securityContext.seccompProfile.type is "Unconfined"',
    ),
    (
        "seccomp-container",
        context(seccompProfile={"type": "Unconfined"}),
        None,
        'container "app": securityContext.seccompProfile.type is "Unconfined"',
    ),
    ("seccomp-annotation", pod_spec(), {SECCOMP: "unconfined"}, f'["{SECCOMP}"] is "unconf'),
    (
        "unsafe-sysctl",
        pod_spec(securityContext={"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}),
        None,
        'spec.securityContext.sysctls has unsafe "kernel.msgmax"',
    ),
    (
        "probe-host",
        with_container(livenessProbe={"httpGet": {"host": "10.0.0.1", "port": 80}}),
        None,
        'container "app": livenessProbe.httpGet.host is "10.0.0.1"',
    ),
    (
        "hook-host",
        with_container(lifecycle={"preStop": {"tcpSocket": {"host": "node", "port": 22}}}),
        None,
        "lifecycle.preStop.tcpSocket.host is",
    ),
]


@pytest.mark.parametrize(
    ("spec", "annotations", "expected"),
    [case[1:] for case in FORBIDDEN],
    ids=[case[0] for case in FORBIDDEN],
)
def test_each_baseline_control_refuses_what_it_forbids(
    spec: dict[str, Any], annotations: dict[str, str] | None, expected: str
) -> None:
    (line,) = violations("", "Pod", pod(spec, annotations))
    assert expected in line
    assert line.endswith("(pod_security: baseline)")


ALLOWED: list[tuple[str, dict[str, Any], dict[str, str] | None]] = [
    ("minimal", pod_spec(), None),
    ("host-namespaces-false", pod_spec(hostNetwork=False, hostPID=False, hostIPC=False), None),
    ("not-privileged", context(privileged=False, allowPrivilegeEscalation=True), None),
    ("default-capabilities", context(capabilities={"add": ["NET_BIND_SERVICE", "CHOWN"]}), None),
    ("dropped-capabilities", context(capabilities={"drop": ["ALL"]}), None),
    ("other-volumes", pod_spec(volumes=[{"name": "tmp", "emptyDir": {}}]), None),
    ("host-port-zero", with_container(ports=[{"containerPort": 80, "hostPort": 0}]), None),
    ("apparmor-runtime-default", pod_spec(), {APPARMOR: "runtime/default"}),
    ("apparmor-localhost", pod_spec(), {APPARMOR: "localhost/my-profile"}),
    ("apparmor-field-localhost", context(appArmorProfile={"type": "Localhost"}), None),
    ("selinux-container-t", context(seLinuxOptions={"type": "container_t", "level": "s0"}), None),
    ("proc-mount-default", context(procMount="Default"), None),
    ("seccomp-runtime-default", context(seccompProfile={"type": "RuntimeDefault"}), None),
    (
        "seccomp-localhost",
        pod_spec(securityContext={"seccompProfile": {"type": "Localhost"}}),
        None,
    ),
    (
        "safe-sysctls",
        pod_spec(securityContext={"sysctls": [{"name": "net.ipv4.tcp_keepalive_time"}]}),
        None,
    ),
    ("probe-without-host", with_container(readinessProbe={"httpGet": {"port": 80}}), None),
    ("unrelated-annotation", pod_spec(), {"prometheus.io/scrape": "true"}),
]


@pytest.mark.parametrize(
    ("spec", "annotations"), [case[1:] for case in ALLOWED], ids=[case[0] for case in ALLOWED]
)
def test_what_the_baseline_level_allows_passes(
    spec: dict[str, Any], annotations: dict[str, str] | None
) -> None:
    assert violations("", "Pod", pod(spec, annotations)) == []


#: Where Kubernetes keeps the pod of each kind, written out again independently of the module.
HOLDERS = [
    ("", "Pod", ""),
    ("", "PodTemplate", "template"),
    ("", "ReplicationController", "spec.template"),
    ("apps", "Deployment", "spec.template"),
    ("apps", "StatefulSet", "spec.template"),
    ("apps", "DaemonSet", "spec.template"),
    ("apps", "ReplicaSet", "spec.template"),
    ("batch", "Job", "spec.template"),
    ("batch", "CronJob", "spec.jobTemplate.spec.template"),
]


def wrap(group: str, kind: str, path: str, template: dict[str, Any]) -> dict[str, Any]:
    """An object of ``kind`` holding ``template`` at ``path``."""
    body: dict[str, Any] = {"apiVersion": f"{group}/v1" if group else "v1", "kind": kind}
    if not path:
        return {**body, **template}
    *parents, last = path.split(".")
    node = body
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = template
    return body


@pytest.mark.parametrize(("group", "kind", "path"), HOLDERS, ids=[h[1] for h in HOLDERS])
def test_every_kind_that_holds_pods_is_checked_where_its_template_lives(
    group: str, kind: str, path: str
) -> None:
    template = {
        "metadata": {"annotations": {APPARMOR: "unconfined"}},
        "spec": context(privileged=True),
    }
    where = f"{path}." if path else ""
    found = violations(group, kind, wrap(group, kind, path, template))
    assert [line.split(" is ")[0] for line in found] == [
        f'{where}metadata.annotations["{APPARMOR}"]',
        'container "app": securityContext.privileged',
    ]


def test_the_table_of_kinds_is_exactly_the_kinds_that_hold_pods() -> None:
    assert set(TEMPLATES) == {(group, kind) for group, kind, _ in HOLDERS}


@pytest.mark.parametrize(
    ("group", "kind"),
    [("", "ConfigMap"), ("example.com", "Deployment"), ("apps", "ControllerRevision")],
    ids=["configmap", "deployment-of-another-group", "controller-revision"],
)
def test_kinds_that_hold_no_pod_template_are_left_alone(group: str, kind: str) -> None:
    body = {"kind": kind, "spec": {"template": {"spec": context(privileged=True)}}}
    assert violations(group, kind, body) == []


def test_every_violation_of_one_pod_is_reported() -> None:
    spec = pod_spec(
        hostNetwork=True,
        volumes=[{"name": "root", "hostPath": {"path": "/"}}],
        containers=[
            {"name": "a", "securityContext": {"privileged": True}},
            {"securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}},
        ],
    )
    found = violations("", "Pod", pod(spec))
    assert [line.split(":")[0] for line in found] == [
        "spec.hostNetwork is true (pod_security",
        'spec.volumes["root"]',
        'container "a"',
        "containers[1]",
    ]


@pytest.mark.parametrize(
    "spec",
    [
        pod_spec(containers=["app", None, 3]),
        pod_spec(containers={"name": "app"}),
        pod_spec(securityContext="privileged"),
        pod_spec(volumes=["hostPath"]),
        with_container(securityContext=["privileged"], ports="80:80"),
        with_container(livenessProbe={"httpGet": "host"}),
    ],
    ids=[
        "containers-not-mappings",
        "containers-not-a-list",
        "context-not-a-mapping",
        "volume-not-a-mapping",
        "container-fields-of-wrong-shape",
        "probe-of-wrong-shape",
    ],
)
def test_shapes_kubernetes_itself_rejects_are_left_to_the_api_server(spec: Any) -> None:
    assert violations("", "Pod", pod(spec)) == []


@pytest.mark.parametrize(
    ("value", "shown"),
    [(["SYS_ADMIN"], '["SYS_ADMIN"]'), ({"name": "x"}, '{"name": "x"}'), (7, "7")],
    ids=["list", "mapping", "number"],
)
def test_values_of_the_wrong_type_are_refused_and_shown(value: Any, shown: str) -> None:
    spec = context(capabilities={"add": [value]}, procMount=value)
    found = violations("", "Pod", pod(spec))
    assert f"securityContext.procMount is {shown}" in found[0]
    assert f"securityContext.capabilities.add has {shown}" in found[1]


# -- through the guard -------------------------------------------------------------------------


def deployment(spec: dict[str, Any]) -> Rendered:
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": spec}},
    }
    return Rendered(body=body, source="apps/shop/web.yaml:1")


def test_the_guard_refuses_a_privileged_host_path_deployment_naming_file_object_and_field() -> None:
    spec = context(privileged=True)
    spec["volumes"] = [{"name": "node", "hostPath": {"path": "/"}}]
    with pytest.raises(GuardError) as caught:
        check([deployment(spec)], APP, lambda api_version, kind: True)
    assert caught.value.errors == [
        'apps/shop/web.yaml:1: Deployment web: spec.template.spec.volumes["node"]: '
        "hostPath volumes are not allowed (pod_security: baseline)",
        'apps/shop/web.yaml:1: Deployment web: container "app": securityContext.privileged '
        "is true (pod_security: baseline)",
    ]


def test_an_app_with_pod_security_privileged_is_not_checked() -> None:
    spec = context(privileged=True)
    node_agent = APP.model_copy(update={"pod_security": "privileged"})
    (out,) = check([deployment(spec)], node_agent, lambda api_version, kind: True)
    assert out["spec"]["template"]["spec"] == spec


def test_pod_security_takes_only_the_two_levels() -> None:
    with pytest.raises(ValueError, match="pod_security"):
        AppConfig(name="a", repo="o/r", path="p", namespace="a", pod_security="restricted")


# -- never anything but a list of lines ---------------------------------------------------------

keys = st.sampled_from(
    [
        "securityContext", "privileged", "capabilities", "add", "hostPort", "ports", "name",
        "seLinuxOptions", "type", "user", "windowsOptions", "hostProcess", "sysctls", "httpGet",
        "host", "livenessProbe", "lifecycle", "preStop", "hostPath", "procMount",
    ]
)  # fmt: skip
near_values = st.recursive(
    json_scalars | st.sampled_from(["Unconfined", "SYS_ADMIN", "spc_t", "Default"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=16,
)
pod_like = st.fixed_dictionaries(
    {},
    optional={
        "containers": near_values,
        "initContainers": st.lists(near_values, max_size=2),
        "ephemeralContainers": near_values,
        "volumes": near_values,
        "securityContext": near_values,
        "hostNetwork": json_scalars,
    },
)


@settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    metadata=json_values | st.fixed_dictionaries({"annotations": near_values}),
    spec=pod_like | json_values,
)
def test_arbitrary_pod_like_data_gives_lines_never_an_exception(metadata: Any, spec: Any) -> None:
    before = copy.deepcopy(spec)
    found = pod_spec_violations(metadata, spec, "spec.template.")
    assert isinstance(found, list) and all(isinstance(line, str) and line for line in found)
    assert repr(spec) == repr(before)  # nothing modified
