"""The dynamic client's errors, made without formatting a traceback, against the real API
server: the same classes and statuses, no ``original_traceback``, the same messages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes.client.rest import ApiException
from kubernetes.dynamic import exceptions as dyn_errors

from webhook.kube import dynamic_errors
from webhook.kube.client import ApiError, Cluster


@pytest.fixture
def cluster(kubeconfig: Path, tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(context=None, cache_dir=tmp_path, kubeconfig=kubeconfig)
    yield c
    c.close()


def test_a_missing_object_raises_not_found_without_a_formatted_traceback(
    cluster: Cluster,
) -> None:
    resource = cluster.resource("v1", "ConfigMap")
    with pytest.raises(dyn_errors.NotFoundError) as caught:
        resource.get(name="no-such-object", namespace="default", serialize=False)
    assert caught.value.status == 404
    assert caught.value.original_traceback is None
    assert cluster.get(resource, "no-such-object", "default") is None


def test_a_refused_write_keeps_its_class_and_the_servers_message(cluster: Cluster) -> None:
    resource = cluster.resource("v1", "ConfigMap")
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "Not_A_Valid_Name", "namespace": "default"},
    }
    with pytest.raises(dyn_errors.UnprocessibleEntityError) as caught:
        resource.server_side_apply(
            body=body, name="Not_A_Valid_Name", namespace="default", field_manager="t"
        )
    assert caught.value.original_traceback is None
    with pytest.raises(ApiError) as translated:
        cluster.apply(resource, body, dry_run=True, force=False)
    assert translated.value.status == 422
    assert 'ConfigMap "Not_A_Valid_Name" is invalid' in str(translated.value)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 422, 429, 500, 503, 504, 599])
def test_every_status_gets_the_librarys_own_class(status: int) -> None:
    library = type(dyn_errors.api_exception(ApiException(status=status)))
    made = dynamic_errors.api_exception(ApiException(status=status, reason="r"))
    assert type(made) is library
    assert (made.status, made.reason, made.original_traceback) == (status, "r", None)
