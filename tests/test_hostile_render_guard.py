"""Rendered objects that would hand an app another identity's credentials.

A Secret of type ``kubernetes.io/service-account-token`` makes Kubernetes' token controller
write a token of the ServiceAccount it names into the Secret; a Pod of the app mounting it
then acts as that account. Creating Secrets is an ordinary right of an app, so RBAC does not
stop it: an app sharing a namespace could take another app's ServiceAccount (or the
namespace's ``default``, or the deployer's own when it lives there). The guard allows such a
Secret only for a ServiceAccount the app renders itself.
"""

from __future__ import annotations

from typing import Any

import pytest

from webhook.guard import GuardError, check
from webhook.render import Rendered
from webhook.settings import AppConfig

APP = AppConfig(
    name="shop",
    repo="o/r",
    path="apps/shop",
    namespace="shop",
    allowed_namespaces=("shop", "shared"),
)


def scope(api_version: str, kind: str) -> bool | None:
    return True  # every kind here is namespaced


def token(account: str, namespace: str | None = None) -> Rendered:
    meta: dict[str, Any] = {
        "name": f"{account}-token",
        "annotations": {"kubernetes.io/service-account.name": account},
    }
    if namespace:
        meta["namespace"] = namespace
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/service-account-token",
        "metadata": meta,
    }
    return Rendered(body=body, source="apps/shop/token.yaml:1")


def account(name: str, namespace: str | None = None) -> Rendered:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}
    return Rendered(body=body, source="apps/shop/sa.yaml:1")


@pytest.mark.parametrize(
    ("objects", "who"),
    [
        ([token("default")], "default"),
        ([token("webhook-deployer", "shared")], "webhook-deployer"),
        ([account("builder"), token("builder", "shared")], "builder"),  # same name, other ns
    ],
    ids=["default", "another-account", "other-namespace"],
)
def test_a_token_for_an_account_the_app_does_not_define_is_refused(
    objects: list[Rendered], who: str
) -> None:
    with pytest.raises(GuardError) as caught:
        check(objects, APP, scope)
    assert caught.value.errors == [
        f"apps/shop/token.yaml:1: Secret {who}-token: is a kubernetes.io/service-account-token "
        f"Secret for ServiceAccount '{who}', which this app does not define: Kubernetes would "
        "issue that account's token to whoever mounts it"
    ]


def test_a_token_for_the_apps_own_account_is_kept() -> None:
    out = check([account("builder"), token("builder")], APP, scope)
    assert [o["kind"] for o in out] == ["ServiceAccount", "Secret"]
    out = check([account("ci", "shared"), token("ci", "shared")], APP, scope)
    assert out[1]["metadata"]["namespace"] == "shared"


def test_other_secrets_are_unaffected() -> None:
    plain = Rendered(
        body={"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": {"name": "s"}},
        source="apps/shop/s.yaml:1",
    )
    assert check([plain], APP, scope)[0]["metadata"]["name"] == "s"
