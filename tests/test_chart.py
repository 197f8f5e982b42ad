"""The Helm chart in charts/webhook-deployer: lint, render, schema, hardening, a real install.

Every scenario under the chart's `ci/` folder is linted with `helm lint --strict`, rendered,
and handed to a real kube-apiserver as a server-side dry run, so a field the API would refuse
fails here and not on AKS. The config the chart renders is loaded by the deployer's own
`load_config`, so the ConfigMap is a file the deployer accepts. One test installs the chart
with `helm install --wait` on the control plane with kwok nodes, where Pods become Ready
whatever the image.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.plugins.cluster import ControlPlane
from webhook.settings import AppConfig, DeployerConfig, HelmConfig, RepoConfig, load_config

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "charts" / "webhook-deployer"
SCENARIOS = sorted((CHART / "ci").glob("*-values.yaml"))
SCENARIO_IDS = [p.name.removesuffix("-values.yaml") for p in SCENARIOS]
WEBHOOK_SECRET = "install test: not a real secret"

Manifest = dict[str, Any]
# Every test here runs helm (or kubectl) from the test tools.
pytestmark = pytest.mark.usefixtures("tools")


@pytest.fixture(scope="module", autouse=True)
def helm_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep helm's config, cache and data out of the user's home."""
    home = tmp_path_factory.mktemp("helm-home")
    names = ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")
    old = {name: os.environ.get(name) for name in names}
    for name in names:
        os.environ[name] = str(home / name.lower())
    yield
    for name, value in old.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def run(argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run helm or kubectl (first on PATH, from the test tools); never raises on failure."""
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)


def ok(argv: list[str], stdin: str | None = None) -> str:
    """Run a command that must succeed; its stdout."""
    proc = run(argv, stdin)
    assert proc.returncode == 0, f"{' '.join(argv)} failed:\n{proc.stderr}"
    return proc.stdout


def template_args(
    values: Path | None, *sets: str, release: str = "wd", namespace: str = "deployer"
) -> list[str]:
    argv = ["helm", "template", release, str(CHART), "--namespace", namespace]
    if values is not None:
        argv += ["--values", str(values)]
    for s in sets:
        argv += ["--set", s]
    return argv


def render(
    values: Path | None, *sets: str, release: str = "wd", namespace: str = "deployer"
) -> list[Manifest]:
    """The objects `helm template` renders for a values file and `--set` overrides."""
    out = ok(template_args(values, *sets, release=release, namespace=namespace))
    return [doc for doc in yaml.safe_load_all(out) if doc]


def render_error(values: Path | None, *sets: str) -> str:
    """The error of a render that must fail."""
    proc = run(template_args(values, *sets))
    assert proc.returncode != 0, f"rendered although it should not:\n{proc.stdout[:2000]}"
    return proc.stderr


def only(objects: list[Manifest], kind: str) -> Manifest:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {[o['metadata']['name'] for o in found]}"
    return found[0]


def kinds(objects: list[Manifest]) -> list[str]:
    return sorted(o["kind"] for o in objects)


def scenario(name: str) -> Path:
    return CHART / "ci" / f"{name}-values.yaml"


def release_for(namespace: str) -> str:
    """A short release name unique per test namespace, so cluster-scoped names never clash."""
    return f"wd-{namespace.rsplit('-', 1)[-1]}"


def install_servicemonitor_crd(kubeconfig: Path) -> None:
    """The Prometheus Operator's ServiceMonitor CRD, cut to the fields the chart sets, with no
    unknown fields preserved: a stand-in for the operator's own CRD (its full schema is not
    vendored here), strict enough that a misspelt field in the chart is refused."""
    duration = {"type": "string", "pattern": "^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?)$"}
    labels = {"type": "object", "additionalProperties": {"type": "string"}}
    spec = {
        "type": "object",
        "required": ["selector"],
        "properties": {
            "selector": {"type": "object", "properties": {"matchLabels": labels}},
            "namespaceSelector": {
                "type": "object",
                "properties": {
                    "any": {"type": "boolean"},
                    "matchNames": {"type": "array", "items": {"type": "string"}},
                },
            },
            "endpoints": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "port": {"type": "string"},
                        "path": {"type": "string"},
                        "interval": duration,
                        "scrapeTimeout": duration,
                        "authorization": {
                            "type": "object",
                            "properties": {
                                "type": {"type": "string"},
                                "credentials": {
                                    "type": "object",
                                    "required": ["key"],
                                    "properties": {
                                        "name": {"type": "string"},
                                        "key": {"type": "string"},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    }
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
        "spec": {
            "group": "monitoring.coreos.com",
            "scope": "Namespaced",
            "names": {
                "kind": "ServiceMonitor",
                "listKind": "ServiceMonitorList",
                "plural": "servicemonitors",
                "singular": "servicemonitor",
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": spec}}},
                }
            ],
        },
    }
    kubectl = ["kubectl", "--kubeconfig", str(kubeconfig)]
    ok(
        [*kubectl, "apply", "--server-side", "--field-manager=chart-test", "-f", "-"],
        json.dumps(crd),
    )
    ok(
        [
            *kubectl,
            "wait",
            "--for=condition=Established",
            "--timeout=30s",
            "crd/" + crd["metadata"]["name"],
        ]
    )


# --- lint and render ---------------------------------------------------------------------


@pytest.mark.parametrize("values", SCENARIOS, ids=SCENARIO_IDS)
def test_scenario_passes_helm_lint_strict(values: Path) -> None:
    ok(["helm", "lint", "--strict", str(CHART), "--values", str(values)])


@pytest.mark.parametrize("values", SCENARIOS, ids=SCENARIO_IDS)
def test_scenario_is_accepted_by_the_api_server_in_a_server_side_dry_run(
    values: Path, namespace: str, kubeconfig: Path
) -> None:
    release = release_for(namespace)
    objects = render(values, release=release, namespace=namespace)
    if "ServiceMonitor" in kinds(objects):
        install_servicemonitor_crd(kubeconfig)
    for ns in yaml.safe_load(values.read_text()).get("rbac", {}).get("namespaces", []):
        # Roles go into the app namespaces, which must exist; created for real, kept.
        manifest = json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        ok(["kubectl", "--kubeconfig", str(kubeconfig), "apply", "-f", "-"], manifest)
    stream = "\n---\n".join(yaml.safe_dump(o) for o in objects)
    out = ok(
        [
            "kubectl",
            "--kubeconfig",
            str(kubeconfig),
            "apply",
            "--server-side",
            "--dry-run=server",
            "--field-manager=chart-test",
            "-f",
            "-",
        ],
        stream,
    )
    accepted = [line for line in out.splitlines() if line.endswith("(server dry run)")]
    assert len(accepted) == len(objects), out


@pytest.mark.parametrize("values", SCENARIOS, ids=SCENARIO_IDS)
def test_scenario_config_is_a_file_the_deployer_loads(values: Path, tmp_path: Path) -> None:
    configmap = only(render(values), "ConfigMap")
    path = tmp_path / "deployer.yaml"
    path.write_text(configmap["data"]["deployer.yaml"])
    config = load_config(path)
    expected = yaml.safe_load(values.read_text())["config"]["apps"]
    assert [a.name for a in config.apps] == [a["name"] for a in expected]


def test_config_public_url_defaults_to_the_ingress_host(tmp_path: Path) -> None:
    configmap = only(render(scenario("ingress")), "ConfigMap")
    path = tmp_path / "deployer.yaml"
    path.write_text(configmap["data"]["deployer.yaml"])
    assert load_config(path).public_url == "https://deployer.example.com"


def test_the_schema_knows_exactly_the_deployers_config_keys() -> None:
    """values.schema.json mirrors webhook/settings.py; a key added there must be added here."""
    config = json.loads((CHART / "values.schema.json").read_text())["properties"]["config"]
    app = config["properties"]["apps"]["items"]
    assert set(config["properties"]) == set(DeployerConfig.model_fields)
    assert set(app["properties"]) == set(AppConfig.model_fields)
    assert set(app["properties"]["helm"]["properties"]) == set(HelmConfig.model_fields)
    repo = config["properties"]["repos"]["additionalProperties"]
    assert set(repo["properties"]) == set(RepoConfig.model_fields)


def test_names_are_cut_to_63_characters() -> None:
    long_name = "a-release-name-long-enough-to-overflow-a-dns-label-of-63-chars-x-"
    objects = render(scenario("ingress"), f"fullnameOverride={long_name}")
    for o in objects:
        name = o["metadata"]["name"]
        assert len(name) <= 63 and not name.endswith("-"), name


# --- what the values refuse ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("replicaCont=2", "additional properties 'replicaCont' not allowed"),
        ("persistence.sise=5Gi", "additional properties 'sise' not allowed"),
        ("config.apps[0].auto_synk=false", "additional properties 'auto_synk' not allowed"),
        ("image.pullPolicy=Sometimes", "pullPolicy"),
        ("config.apps[0].pod_security=restricted", "must be one of 'baseline', 'privileged'"),
    ],
    ids=["top-level", "nested", "config-app-key", "enum", "pod-security-level"],
)
def test_schema_rejects_a_typo(override: str, message: str) -> None:
    error = render_error(scenario("default"), override)
    assert message in error


def test_two_replicas_with_sqlite_are_refused() -> None:
    error = render_error(scenario("default"), "replicaCount=2")
    assert "replicaCount 2 needs PostgreSQL" in error


def test_rendering_without_a_webhook_secret_fails_with_a_clear_message() -> None:
    error = render_error(None, "config.apps=null")
    assert "webhookSecret is required" in error
    assert "existingSecret" in error


def test_an_enabled_ingress_without_a_host_is_refused() -> None:
    error = render_error(scenario("default"), "ingress.enabled=true")
    assert "ingress.host is required" in error


# --- the store decides replicas and strategy ------------------------------------------------


def test_sqlite_runs_one_recreated_pod_on_a_volume() -> None:
    objects = render(scenario("default"))
    deployment = only(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    url = env["DEPLOYER_DATABASE_URL"]["value"]
    assert url == "sqlite:////var/lib/webhook-deployer/deployer.db"
    claim = only(objects, "PersistentVolumeClaim")["metadata"]["name"]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == claim


def test_postgres_allows_replicas_and_rolling_updates_without_a_volume() -> None:
    objects = render(scenario("postgres"))
    deployment = only([o for o in objects if o["metadata"]["name"].endswith("-web")], "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert "PersistentVolumeClaim" not in kinds(objects)
    assert "Secret" not in kinds(objects)  # every credential comes from existing Secrets
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    ref = env["DEPLOYER_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "webhook-deployer-postgres", "key": "url"}


def test_a_config_change_rolls_the_pods() -> None:
    def checksum(*sets: str) -> str:
        deployment = only(render(scenario("default"), *sets), "Deployment")
        annotations: dict[str, str] = deployment["spec"]["template"]["metadata"]["annotations"]
        return annotations["checksum/config"]

    assert checksum() == checksum()
    assert checksum() != checksum("config.resync_interval=60")


# --- secrets ---------------------------------------------------------------------------------


def test_secrets_reach_the_pod_only_as_env_from_a_secret() -> None:
    objects = render(scenario("namespaced-rbac"))
    secret = only(objects, "Secret")
    values = yaml.safe_load(scenario("namespaced-rbac").read_text())
    assert secret["stringData"]["GITHUB_WEBHOOK_SECRET"] == values["webhookSecret"]
    assert secret["stringData"]["GITHUB_APP_PRIVATE_KEY"] == values["githubApp"]["privateKey"]
    configmap = json.dumps(only(objects, "ConfigMap"))
    assert values["webhookSecret"] not in configmap
    assert "not a real key" not in configmap
    container = only(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    for name in ("GITHUB_WEBHOOK_SECRET", "GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == secret["metadata"]["name"]
    assert "value" not in env["GITHUB_WEBHOOK_SECRET"]


def test_env_names_are_the_ones_the_deployer_reads() -> None:
    objects = render(scenario("ingress"), "githubApiUrl=https://ghe.example.com/api/v3")
    container = only(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    names = {e["name"] for e in container["env"]}
    assert names >= {
        "GITHUB_WEBHOOK_SECRET",
        "GITHUB_TOKEN",
        "GITHUB_APP_ID",
        "GITHUB_APP_PRIVATE_KEY",
        "GITHUB_APP_INSTALLATION_ID",
        "GITHUB_API_URL",
        "DEPLOYER_DATABASE_URL",
        "DEPLOYER_ADMIN_TOKEN",
        "DEPLOYER_CACHE_DIR",
        "DEPLOYER_LOG_LEVEL",
    }
    readme = (REPO / "README.md").read_text()
    for name in names - {"HOME"}:
        assert f"`{name}`" in readme, f"{name} is not in README's Environment table"


# --- RBAC ---------------------------------------------------------------------------------


def test_cluster_wide_rbac_can_apply_anything_and_impersonate_service_accounts() -> None:
    objects = render(scenario("default"))
    role = only(objects, "ClusterRole")
    binding = only(objects, "ClusterRoleBinding")
    account = only(objects, "ServiceAccount")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "deployer"}
    ]
    assert {
        "apiGroups": [""],
        "resources": ["serviceaccounts"],
        "verbs": ["impersonate"],
    } in role["rules"]
    assert "Role" not in kinds(objects)


def test_namespaced_rbac_grants_only_the_listed_namespaces() -> None:
    objects = render(scenario("namespaced-rbac"))
    assert "ClusterRole" not in kinds(objects)
    assert "ClusterRoleBinding" not in kinds(objects)
    roles = {o["metadata"]["namespace"] for o in objects if o["kind"] == "Role"}
    bindings = {o["metadata"]["namespace"] for o in objects if o["kind"] == "RoleBinding"}
    assert roles == bindings == {"wd-chart-guestbook", "wd-chart-shop"}


# --- hardening -----------------------------------------------------------------------------


HARDENED = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


@pytest.mark.parametrize("values", SCENARIOS, ids=SCENARIO_IDS)
def test_every_container_is_hardened_and_probed(values: Path) -> None:
    objects = render(values)
    pods = [o["spec"]["template"]["spec"] for o in objects if o["kind"] == "Deployment"]
    assert pods
    for pod in pods:
        assert pod["terminationGracePeriodSeconds"] >= 300
        for container in pod["containers"] + pod.get("initContainers", []):
            context = container["securityContext"]
            assert {k: context.get(k) for k in HARDENED} == HARDENED, container["name"]
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert container["resources"]["requests"] and container["resources"]["limits"]
            writable = {m["mountPath"] for m in container["volumeMounts"]}
            assert {"/tmp", "/var/cache/webhook-deployer"} <= writable


def test_values_are_all_documented() -> None:
    """argo-helm style: every key, or a key above it, has a `# --` comment."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    key = re.compile(r"^(\s*)([A-Za-z][\w.-]*):(.*)$")
    stack: list[tuple[int, bool]] = []
    undocumented = []
    for i, line in enumerate(lines):
        match = key.match(line)
        if not match:
            continue
        indent, name, rest = len(match[1]), match[2], match[3].strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        j = i - 1
        comments = []
        while j >= 0 and lines[j].strip().startswith("#"):
            comments.append(lines[j])
            j -= 1
        documented = any("# --" in c for c in comments) or any(d for _, d in stack)
        following = next((n for n in lines[i + 1 :] if n.strip() and n.strip()[0] != "#"), "")
        is_parent = not rest and key.match(following) is not None
        is_parent = is_parent and len(following) - len(following.lstrip()) > indent
        if not is_parent and not documented:
            undocumented.append(name)
        stack.append((indent, documented))
    assert not undocumented


# --- a real install ----------------------------------------------------------------------------


def test_helm_install_becomes_available_and_keeps_secrets_out_of_the_configmap(
    namespace_with_nodes: str, control_plane_with_nodes: ControlPlane
) -> None:
    namespace = namespace_with_nodes
    kubeconfig = str(control_plane_with_nodes.kubeconfig)
    release = release_for(namespace)
    kubectl = ["kubectl", "--kubeconfig", kubeconfig]
    claim = only(
        render(scenario("default"), release=release, namespace=namespace), "PersistentVolumeClaim"
    )["metadata"]["name"]
    # The test cluster has no storage provisioner: a PV bound in advance to the chart's claim.
    pv_name = f"{release}-data"
    volume: Manifest = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": pv_name},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "hostPath": {"path": f"/tmp/{release}-data"},
            "claimRef": {"namespace": namespace, "name": claim},
        },
    }
    ok([*kubectl, "apply", "-f", "-"], json.dumps(volume))
    helm = ["helm", "--kubeconfig", kubeconfig, "--namespace", namespace]
    try:
        out = ok(
            [
                *helm,
                "install",
                release,
                str(CHART),
                "--values",
                str(scenario("default")),
                "--set",
                f"webhookSecret={WEBHOOK_SECRET}",
                "--wait",
                "--timeout",
                "60s",
            ]
        )
        assert "/webhooks/github" in out and "application/json" in out  # NOTES: next step
        assert "/readyz" in out
        name = claim  # the chart names everything with its full name
        deployment = json.loads(
            ok([*kubectl, "-n", namespace, "get", "deployment", name, "-o", "json"])
        )
        conditions = {c["type"]: c["status"] for c in deployment["status"]["conditions"]}
        assert conditions["Available"] == "True"
        assert deployment["status"]["readyReplicas"] == 1
        assert WEBHOOK_SECRET not in json.dumps(deployment)  # env comes from the Secret
        configmap = ok([*kubectl, "-n", namespace, "get", "configmap", name, "-o", "json"])
        assert WEBHOOK_SECRET not in configmap
        encoded = base64.b64encode(WEBHOOK_SECRET.encode()).decode()
        assert encoded not in configmap
        secret = json.loads(ok([*kubectl, "-n", namespace, "get", "secret", name, "-o", "json"]))
        assert base64.b64decode(secret["data"]["GITHUB_WEBHOOK_SECRET"]).decode() == WEBHOOK_SECRET
    finally:
        run([*helm, "uninstall", release])
        run([*kubectl, "delete", "persistentvolume", pv_name, "--wait=false"])


# --- least privilege -------------------------------------------------------------------------


def test_least_privilege_grants_the_deployer_only_impersonation_by_name() -> None:
    objects = render(scenario("least-privilege"))
    assert "ClusterRole" not in kinds(objects)
    assert "ClusterRoleBinding" not in kinds(objects)
    deployer = only(
        [o for o in objects if o["metadata"].get("namespace") == "deployer"], "ServiceAccount"
    )
    mine = [
        o
        for o in objects
        if o["kind"] == "RoleBinding"
        and {
            "kind": "ServiceAccount",
            "name": deployer["metadata"]["name"],
            "namespace": "deployer",
        }
        in o["subjects"]
    ]
    assert {b["metadata"]["namespace"] for b in mine} == {
        "wd-chart-lp-guestbook",
        "wd-chart-lp-shop",
    }
    roles = {
        (o["metadata"]["namespace"], o["metadata"]["name"]): o
        for o in objects
        if o["kind"] == "Role"
    }
    for bound in mine:
        assert bound["roleRef"]["kind"] == "Role"
        role = roles[(bound["metadata"]["namespace"], bound["roleRef"]["name"])]
        assert role["rules"] == [
            {
                "apiGroups": [""],
                "resources": ["serviceaccounts"],
                "verbs": ["impersonate"],
                "resourceNames": ["deployer-app", "shop-deployer"],
            }
        ]
    config = yaml.safe_load(only(objects, "ConfigMap")["data"]["deployer.yaml"])
    assert config["default_service_account"] == "deployer-app"


def test_least_privilege_without_namespaces_is_refused() -> None:
    error = render_error(scenario("default"), "rbac.leastPrivilege.enabled=true")
    assert "rbac.namespaces must list the apps' namespaces" in error


def test_least_privilege_rbac_on_the_api_server_allows_impersonation_and_nothing_else(
    namespace_with_nodes: str, control_plane_with_nodes: ControlPlane
) -> None:
    """The rendered RBAC, applied for real, asked with `kubectl auth can-i` as each account.

    On the control plane with a controller-manager: it fills the aggregated `edit` role.
    """
    namespace, kubeconfig = namespace_with_nodes, control_plane_with_nodes.kubeconfig
    release = release_for(namespace)
    objects = render(
        scenario("least-privilege"),
        f"rbac.namespaces={{{namespace}}}",
        release=release,
        namespace=namespace,
    )
    rbac = [o for o in objects if o["kind"] in ("ServiceAccount", "Role", "RoleBinding")]
    kubectl = ["kubectl", "--kubeconfig", str(kubeconfig)]
    ok([*kubectl, "apply", "-f", "-"], "\n---\n".join(yaml.safe_dump(o) for o in rbac))
    deployer = f"system:serviceaccount:{namespace}:{release}-webhook-deployer"
    app = f"system:serviceaccount:{namespace}:deployer-app"

    def can(user: str, *args: str) -> bool:
        proc = run([*kubectl, "auth", "can-i", "--as", user, *args])
        assert proc.stdout.strip() in ("yes", "no"), proc.stderr
        return proc.stdout.strip() == "yes"

    assert can(deployer, "impersonate", "serviceaccounts/deployer-app", "-n", namespace)
    assert can(deployer, "impersonate", "serviceaccounts/shop-deployer", "-n", namespace)
    assert not can(deployer, "impersonate", "serviceaccounts/default", "-n", namespace)
    assert not can(deployer, "impersonate", "serviceaccounts/deployer-app", "-n", "kube-system")
    assert not can(deployer, "create", "configmaps", "-n", namespace)
    assert not can(deployer, "list", "secrets", "-n", namespace)
    assert not can(deployer, "create", "namespaces")
    # The app's account: ordinary objects in its namespace, no RBAC, nothing elsewhere.
    assert can(app, "create", "configmaps", "-n", namespace)
    assert can(app, "patch", "deployments.apps", "-n", namespace)
    assert not can(app, "create", "rolebindings.rbac.authorization.k8s.io", "-n", namespace)
    assert not can(app, "create", "configmaps", "-n", "kube-system")
    assert not can(app, "create", "namespaces")
