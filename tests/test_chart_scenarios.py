"""The chart's scenarios as operators run them: the PostgreSQL split into ``web`` and
``worker``, the worker's liveness endpoint, ``image.digest``, a kubeconfig Secret for other
clusters, AKS workload identity, topology spread, extra volumes, the ServiceMonitor; and a
real sync authenticated as the chart's ServiceAccount, with only the RBAC the chart grants.

Rendered with the real helm. Every scenario under ``ci/`` is also linted and dry-run on the
API server by tests/test_chart.py; the worker's command line is run for real here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.gitops import cm, dump, job, make_gitops
from tests.plugins.cluster import ControlPlane
from tests.processes import free_port, wait_ready
from tests.test_chart import (
    Manifest,
    helm_home as helm_home,  # autouse: helm's files stay in tmp
    kinds,
    ok,
    only,
    release_for,
    render,
    render_error,
    scenario,
)
from webhook.model import JobState
from webhook.steps import run_job

pytestmark = pytest.mark.usefixtures("tools")


def named(objects: list[Manifest], kind: str, suffix: str) -> Manifest:
    return only([o for o in objects if o["metadata"]["name"].endswith(suffix)], kind)


def pods(objects: list[Manifest]) -> list[dict[str, Any]]:
    return [o["spec"]["template"] for o in objects if o["kind"] == "Deployment"]


def container(template: dict[str, Any]) -> dict[str, Any]:
    [found] = template["spec"]["containers"]
    return found  # type: ignore[no-any-return]


def env_of(template: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in container(template)["env"]}


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# --- SQLite: one serve pod; PostgreSQL: web and worker ------------------------------------


def test_sqlite_runs_serve_in_one_deployment_without_a_worker_or_budget() -> None:
    objects = render(scenario("default"))
    deployment = only(objects, "Deployment")
    assert container(deployment["spec"]["template"])["args"][0] == "serve"
    assert "PodDisruptionBudget" not in kinds(objects)
    assert kinds(objects).count("Service") == 1


def test_postgres_splits_a_scalable_web_from_the_workers() -> None:
    objects = render(scenario("postgres"))
    web, worker = named(objects, "Deployment", "-web"), named(objects, "Deployment", "-worker")
    assert container(web["spec"]["template"])["args"][:1] == ["web"]
    assert container(worker["spec"]["template"])["args"][:1] == ["worker"]
    assert (web["spec"]["replicas"], worker["spec"]["replicas"]) == (2, 2)
    web_labels = web["spec"]["template"]["metadata"]["labels"]
    worker_labels = worker["spec"]["template"]["metadata"]["labels"]
    # GitHub's deliveries reach web pods only; the budget keeps web pods through drains.
    service = only(
        [o for o in objects if o["kind"] == "Service" and "-worker" not in o["metadata"]["name"]],
        "Service",
    )
    assert selects(service["spec"]["selector"], web_labels)
    assert not selects(service["spec"]["selector"], worker_labels)
    budget = only(objects, "PodDisruptionBudget")
    assert selects(budget["spec"]["selector"]["matchLabels"], web_labels)
    assert not selects(budget["spec"]["selector"]["matchLabels"], worker_labels)
    assert budget["spec"] == {**budget["spec"], "maxUnavailable": 1}
    for deployment in (web, worker):  # each Deployment owns only its own pods
        own = deployment["spec"]["selector"]["matchLabels"]
        other = worker_labels if deployment is web else web_labels
        assert not selects(own, other)


def test_the_worker_is_probed_on_its_own_endpoint_with_the_stall_limit() -> None:
    worker = named(render(scenario("postgres")), "Deployment", "-worker")["spec"]["template"]
    args = container(worker)["args"]
    assert args[args.index("--health-bind") + 1] == "0.0.0.0:8081"
    assert args[args.index("--stall-seconds") + 1] == "600"
    [port] = container(worker)["ports"]
    assert port == {"name": "http", "containerPort": 8081, "protocol": "TCP"}
    probe = container(worker)["livenessProbe"]["httpGet"]
    assert probe == {"path": "/healthz", "port": "http"}


def test_the_rendered_worker_command_runs_and_answers_its_probe(tmp_path: Path) -> None:
    """The worker's arguments as the chart renders them, run for real (on SQLite here: the
    store does not change the command line), with the port moved to a free one."""
    objects = render(scenario("postgres"))
    config = tmp_path / "deployer.yaml"
    config.write_text(only(objects, "ConfigMap")["data"]["deployer.yaml"])
    args = container(named(objects, "Deployment", "-worker")["spec"]["template"])["args"]
    port = free_port()
    args = [a.replace("/etc/webhook-deployer/deployer.yaml", str(config)) for a in args]
    args = [a.replace("0.0.0.0:8081", f"127.0.0.1:{port}") for a in args]
    env = {
        "GITHUB_WEBHOOK_SECRET": "chart worker test",
        "DEPLOYER_DATABASE_URL": f"sqlite:///{tmp_path / 'deployer.db'}",
        "DEPLOYER_CACHE_DIR": str(tmp_path / "cache"),
        "PATH": "/usr/bin:/bin",
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "webhook.cli", *args], env=env, stdout=out, stderr=out
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc, log)
        answer = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert answer.status_code == 200 and answer.json() == {"ok": True, "stalled": []}
        metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert "deployer_syncs_total" in metrics or "# TYPE deployer_syncs counter" in metrics
    finally:
        proc.terminate()
        proc.wait(30)


# --- image, volumes, spread -----------------------------------------------------------------


def test_an_image_digest_pins_every_pod() -> None:
    objects = render(scenario("digest"))
    digest = "sha256:" + "0123456789abcdef" * 4
    for template in pods(objects):
        assert container(template)["image"] == f"acme.azurecr.io/webhook-deployer@{digest}"


def test_a_digest_and_a_tag_together_are_refused() -> None:
    assert "image.digest and image.tag are both set" in render_error(
        scenario("digest"), "image.tag=1.2.3"
    )


def test_a_malformed_digest_is_refused_by_the_schema() -> None:
    assert "digest" in render_error(scenario("default"), "image.digest=latest")


def test_extra_volumes_mounts_and_env_reach_the_container() -> None:
    [template] = pods(render(scenario("digest")))
    volumes = {v["name"]: v for v in template["spec"]["volumes"]}
    assert volumes["ghes-ca"] == {"name": "ghes-ca", "configMap": {"name": "ghes-ca"}}
    mounts = {m["name"]: m for m in container(template)["volumeMounts"]}
    assert mounts["ghes-ca"]["mountPath"] == "/etc/ssl/ghes"
    assert env_of(template)["REQUESTS_CA_BUNDLE"]["value"] == "/etc/ssl/ghes/ca.crt"


def test_topology_spread_selects_each_deployments_own_pods() -> None:
    objects = render(scenario("postgres"))
    for suffix in ("-web", "-worker"):
        deployment = named(objects, "Deployment", suffix)
        [constraint] = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert constraint["topologyKey"] == "topology.kubernetes.io/zone"
        own = deployment["spec"]["selector"]["matchLabels"]
        assert constraint["labelSelector"] == {"matchLabels": own}


# --- other clusters, AKS workload identity --------------------------------------------------


def test_a_kubeconfig_secret_is_mounted_and_named_by_kubeconfig() -> None:
    objects = render(scenario("kubeconfig"))
    assert "deployer-kubeconfig" not in {o["metadata"]["name"] for o in objects}  # existing
    [template] = pods(objects)
    volumes = {v["name"]: v for v in template["spec"]["volumes"]}
    assert volumes["kubeconfig"]["secret"]["secretName"] == "deployer-kubeconfig"
    mounts = {m["name"]: m for m in container(template)["volumeMounts"]}
    assert mounts["kubeconfig"]["readOnly"] is True
    path = env_of(template)["KUBECONFIG"]["value"]
    assert path == f"{mounts['kubeconfig']['mountPath']}/kubeconfig"


def test_workload_identity_labels_the_pods_and_annotates_the_service_account() -> None:
    objects = render(scenario("workload-identity"))
    account = only(objects, "ServiceAccount")
    client_id = "00000000-0000-0000-0000-000000000001"
    assert account["metadata"]["annotations"] == {"azure.workload.identity/client-id": client_id}
    for template in pods(objects):
        assert template["metadata"]["labels"]["azure.workload.identity/use"] == "true"
        assert template["spec"]["serviceAccountName"] == account["metadata"]["name"]
    assert "azure.workload.identity/use" not in json.dumps(render(scenario("default")))


def test_workload_identity_kubeconfig_gets_its_token_from_kubelogin() -> None:
    """The chart's own Secret holds the kubeconfig; the deployer's kube layer (the Python
    client) reads the file KUBECONFIG names, so the path must hold it, unchanged."""
    objects = render(scenario("workload-identity"))
    secret = named(objects, "Secret", "-kubeconfig")
    [template] = pods(objects)
    path = Path(env_of(template)["KUBECONFIG"]["value"])
    kubeconfig = yaml.safe_load(secret["stringData"][path.name])
    [user] = kubeconfig["users"]
    exec_ = user["user"]["exec"]
    assert exec_["command"] == "kubelogin"
    assert exec_["args"][:3] == ["get-token", "--login", "workloadidentity"]
    assert "token" not in user["user"] and "client-key-data" not in user["user"]
    mounts = {m["name"]: m["mountPath"] for m in container(template)["volumeMounts"]}
    assert str(path.parent) == mounts["kubeconfig"]
    # A new kubeconfig rolls the pods.
    before = template["metadata"]["annotations"]["checksum/kubeconfig"]
    changed = render(scenario("workload-identity"), "kubeconfig.content=apiVersion: v1")
    [after] = pods(changed)
    assert after["metadata"]["annotations"]["checksum/kubeconfig"] != before


def test_workload_identity_without_a_client_id_is_refused() -> None:
    error = render_error(scenario("default"), "azureWorkloadIdentity.enabled=true")
    assert "azureWorkloadIdentity.clientId is required" in error


# --- Prometheus ------------------------------------------------------------------------------


def test_the_service_monitor_scrapes_every_service_of_the_release() -> None:
    objects = render(scenario("servicemonitor"))
    monitor = only(objects, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics" and endpoint["interval"] == "15s"
    services = [o for o in objects if o["kind"] == "Service"]
    assert len(services) == 2  # web and worker
    for service in services:
        assert selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
        assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert "ServiceMonitor" not in kinds(render(scenario("postgres")))


# --- a sync with the chart's RBAC -------------------------------------------------------------


def test_a_sync_runs_as_the_charts_service_account_with_the_rbac_it_grants(
    namespace: str, control_plane: ControlPlane, tmp_path: Path
) -> None:
    """The chart's ServiceAccount and RBAC applied for real; the sync authenticates with a
    token the API server issues for that account (TokenRequest), so every request of the
    sync (discovery, dry run, apply, the ApplySet parent, health) is authorized by the
    chart's rules and nothing else."""
    admin = control_plane.kubeconfig
    release = release_for(namespace)
    objects = render(scenario("default"), release=release, namespace=namespace)
    rbac = [
        o for o in objects if o["kind"] in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding")
    ]
    kubectl = ["kubectl", "--kubeconfig", str(admin)]
    ok([*kubectl, "apply", "-f", "-"], "\n---\n".join(yaml.safe_dump(o) for o in rbac))
    account = only(objects, "ServiceAccount")["metadata"]["name"]
    try:
        token = ok([*kubectl, "-n", namespace, "create", "token", account]).strip()
        config = yaml.safe_load(admin.read_text())
        config["users"] = [{"name": "chart", "user": {"token": token}}]
        for context in config["contexts"]:
            context["context"]["user"] = "chart"
        as_chart = tmp_path / "chart.kubeconfig"
        as_chart.write_text(yaml.safe_dump(config))
        whoami = json.loads(
            ok(["kubectl", "--kubeconfig", str(as_chart), "auth", "whoami", "-o", "json"])
        )
        assert (
            whoami["status"]["userInfo"]["username"]
            == f"system:serviceaccount:{namespace}:{account}"
        )

        ops = make_gitops(tmp_path, as_chart, namespace)
        sha = ops.commit({"apps/shop/settings.yaml": dump(cm("settings"))})
        outcome = run_job(ops.engine(), job(sha))
        assert outcome.state is JobState.SUCCEEDED, outcome.message
        live = json.loads(
            ok([*kubectl, "-n", namespace, "get", "configmap", "settings", "-o", "json"])
        )
        assert live["data"] == {"value": "1"}
    finally:
        for o in rbac:
            if o["kind"] != "ServiceAccount":
                subprocess.run(
                    [*kubectl, "delete", o["kind"].lower(), o["metadata"]["name"], "--wait=false"],
                    capture_output=True,
                    check=False,
                )


def test_the_postgres_split_installs_and_its_budget_allows_one_disruption(
    namespace_with_nodes: str, control_plane_with_nodes: ControlPlane
) -> None:
    """`helm install --wait` on the control plane with kwok nodes (Pods become Ready whatever
    the image): both Deployments Available, and the disruption controller's view of the
    budget: two healthy web pods, one may go."""
    namespace, kubeconfig = namespace_with_nodes, str(control_plane_with_nodes.kubeconfig)
    release = release_for(namespace)
    helm = ["helm", "--kubeconfig", kubeconfig, "--namespace", namespace]
    kubectl = ["kubectl", "--kubeconfig", kubeconfig, "-n", namespace]
    try:
        ok(
            [
                *helm,
                "install",
                release,
                str(scenario("postgres").parents[1]),
                "--values",
                str(scenario("postgres")),
                "--wait",
                "--timeout",
                "90s",
            ]
        )
        for component, replicas in (("web", 2), ("worker", 2)):
            name = f"{release}-webhook-deployer-{component}"
            deployment = json.loads(ok([*kubectl, "get", "deployment", name, "-o", "json"]))
            assert deployment["status"].get("readyReplicas") == replicas, component
        budget_name = f"{release}-webhook-deployer-web"
        budget = {}
        for _ in range(60):  # the disruption controller fills the status a moment later
            budget = json.loads(ok([*kubectl, "get", "pdb", budget_name, "-o", "json"]))
            if budget.get("status", {}).get("currentHealthy") == 2:
                break
            time.sleep(0.5)
        assert budget["status"]["currentHealthy"] == 2
        assert budget["status"]["disruptionsAllowed"] == 1
    finally:
        subprocess.run([*helm, "uninstall", release], capture_output=True, check=False)


def test_access_settings_reach_the_pods_through_the_secret_and_the_monitor_scrapes_as_reader() -> (
    None
):
    objects = render(scenario("access"))
    secret = only(objects, "Secret")["stringData"]
    assert secret["DEPLOYER_API_TOKENS"].startswith("prometheus:read:")
    assert secret["GITHUB_OAUTH_CLIENT_ID"] == "Iv1.0123456789abcdef"
    assert secret["GITHUB_OAUTH_CLIENT_SECRET"] == "not-a-real-client-secret"
    assert secret["DEPLOYER_SESSION_SECRET"] == "not-a-real-session-secret-of-32-characters"
    assert "DEPLOYER_ADMIN_TOKEN" not in secret
    [template] = pods(objects)
    assert env_of(template)["DEPLOYER_AUTH"]["value"] == "github"
    [endpoint] = only(objects, "ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["authorization"] == {
        "type": "Bearer",
        "credentials": {"name": "prometheus-scrape-token", "key": "token"},
    }
    assert "DEPLOYER_AUTH" not in env_of(pods(render(scenario("default")))[0])
