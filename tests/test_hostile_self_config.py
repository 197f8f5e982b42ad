"""The deployer knows who it is, and refuses at load an app that could deploy into its own
namespace, where the app's repository could replace the deployer's Deployment, read the
Secret holding the webhook secret, or run Pods as the deployer's ServiceAccount.

The identity comes from ``DEPLOYER_NAMESPACE`` and ``DEPLOYER_SERVICE_ACCOUNT``, which the
chart sets through the downward API; outside the chart, from the namespace file Kubernetes
mounts into every pod.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.test_chart import (
    helm_home as helm_home,  # autouse: helm's files stay in tmp
    only,
    render,
    render_error,
    scenario,
)
from webhook.cli import main
from webhook.own_identity import OwnIdentity
from webhook.settings import ConfigError, Environment, load_config

CONFIG = """
apps:
  - name: inside
    repo: acme/gitops
    path: apps/inside
    namespace: {namespace}
    allowed_namespaces: {allowed}
{extra}
"""


def write(tmp_path: Path, namespace: str, allowed: str = "[]", extra: str = "") -> Path:
    path = tmp_path / "deployer.yaml"
    path.write_text(CONFIG.format(namespace=namespace, allowed=allowed, extra=extra))
    return path


OWN = OwnIdentity(namespace="webhook-deployer", service_account="webhook-deployer")


@pytest.mark.parametrize(
    ("namespace", "allowed"),
    [("webhook-deployer", "[]"), ("shop", "[shop, webhook-deployer]")],
    ids=["namespace", "allowed_namespaces"],
)
def test_an_app_that_may_deploy_into_the_deployers_namespace_is_refused_at_load(
    tmp_path: Path, namespace: str, allowed: str
) -> None:
    path = write(tmp_path, namespace, allowed)
    with pytest.raises(ConfigError) as caught:
        load_config(path, OWN)
    [line] = caught.value.errors
    assert line.startswith(f"{path}: app 'inside', key (entry): namespace 'webhook-deployer'")
    assert "is the deployer's own (DEPLOYER_NAMESPACE)" in line
    assert "allow_deployer_namespace: true" in line
    # Another namespace is fine; the explicit opt-in is too.
    assert load_config(write(tmp_path, "shop"), OWN).apps[0].namespace == "shop"
    opted = write(tmp_path, namespace, allowed, "    allow_deployer_namespace: true")
    assert load_config(opted, OWN).apps[0].allow_deployer_namespace


def test_check_config_refuses_it_with_the_identity_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "webhook-deployer")
    args = ["check-config", "--config", str(path)]
    inside = CliRunner().invoke(main, args, env={"DEPLOYER_NAMESPACE": "webhook-deployer"})
    assert inside.exit_code == 2, inside.output
    assert "is the deployer's own (DEPLOYER_NAMESPACE)" in inside.output
    elsewhere = CliRunner().invoke(main, args, env={"DEPLOYER_NAMESPACE": "platform"})
    assert elsewhere.exit_code == 0, elsewhere.output


def test_the_identity_comes_from_the_environment_else_the_pods_namespace_file(
    tmp_path: Path,
) -> None:
    mounted = tmp_path / "namespace"
    mounted.write_text("from-the-file\n")
    both = {"DEPLOYER_NAMESPACE": "deployer", "DEPLOYER_SERVICE_ACCOUNT": "runner"}
    assert OwnIdentity.from_environ(both, mounted) == OwnIdentity(
        namespace="deployer", service_account="runner"
    )
    assert OwnIdentity.from_environ(both, mounted).username == (
        "system:serviceaccount:deployer:runner"
    )
    only_account = {"DEPLOYER_SERVICE_ACCOUNT": "runner"}
    assert OwnIdentity.from_environ(only_account, mounted) == OwnIdentity(
        namespace="from-the-file", service_account="runner"
    )
    # Outside a cluster: nobody, and an account without a namespace names nothing.
    assert OwnIdentity.from_environ(only_account, tmp_path / "absent") == OwnIdentity()
    env = Environment.from_environ({"GITHUB_WEBHOOK_SECRET": "s", **both})
    assert env.own == OwnIdentity(namespace="deployer", service_account="runner")


@pytest.mark.usefixtures("tools")  # helm template
def test_the_chart_tells_the_deployer_its_namespace_and_service_account() -> None:
    objects = render(scenario("default"), namespace="platform")
    pod = only(objects, "Deployment")["spec"]["template"]["spec"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["DEPLOYER_NAMESPACE"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}
    }
    assert env["DEPLOYER_SERVICE_ACCOUNT"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "spec.serviceAccountName"}
    }
    # The field the downward API reads is the account the chart creates and binds.
    account = only(objects, "ServiceAccount")["metadata"]["name"]
    assert pod["serviceAccountName"] == account


@pytest.mark.usefixtures("tools")  # helm template
def test_the_chart_refuses_an_app_in_the_release_namespace_at_install() -> None:
    """The pods would refuse it at start and crash-loop: helm says so first."""
    error = render_error(scenario("default"), "config.apps[0].namespace=deployer")
    assert "app guestbook may deploy into the deployer's own namespace deployer" in error
    assert "allow_deployer_namespace: true" in error
    listed = "config.apps[0].allowed_namespaces={guestbook,deployer}"
    assert "own namespace deployer" in render_error(scenario("default"), listed)
    opted = "config.apps[0].allow_deployer_namespace=true"
    objects = render(scenario("default"), "config.apps[0].namespace=deployer", opted)
    assert "allow_deployer_namespace: true" in only(objects, "ConfigMap")["data"]["deployer.yaml"]
