"""The kube layer's watch of one object, on the real control plane: health waits rely on it
to see a rollout end the moment it happens."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from kubernetes import client

from webhook.kube.client import Cluster


def test_a_watch_yields_each_new_state_of_one_object_then_none_once_deleted(
    kubeconfig: Path, namespace: str, k8s_api_client: client.ApiClient, tmp_path: Path
) -> None:
    core = client.CoreV1Api(k8s_api_client)
    for name in ("watched", "other"):
        core.create_namespaced_config_map(
            namespace, {"metadata": {"name": name}, "data": {"v": "1"}}
        )
    seen = core.read_namespaced_config_map("watched", namespace).metadata.resource_version
    cluster = Cluster(context=None, cache_dir=tmp_path, kubeconfig=kubeconfig)

    def change() -> None:
        time.sleep(0.3)
        core.patch_namespaced_config_map("other", namespace, {"data": {"v": "x"}})
        core.patch_namespaced_config_map("watched", namespace, {"data": {"v": "2"}})
        core.delete_namespaced_config_map("watched", namespace)

    writer = threading.Thread(target=change)
    writer.start()
    started = time.monotonic()
    states = []
    for state in cluster.watch(
        cluster.resource("v1", "ConfigMap"),
        "watched",
        namespace,
        resource_version=seen,
        seconds=20,
    ):
        states.append(None if state is None else state["data"])
        if state is None:
            break
    writer.join()
    assert states == [{"v": "2"}, None]  # only this object, only changes after `seen`
    assert time.monotonic() - started < 10


def test_a_watch_that_cannot_start_ends_quietly_for_the_poll_to_take_over(
    kubeconfig: Path, namespace: str, tmp_path: Path
) -> None:
    cluster = Cluster(context=None, cache_dir=tmp_path, kubeconfig=kubeconfig)
    states = list(
        cluster.watch(
            cluster.resource("v1", "ConfigMap"),
            "x",
            namespace,
            resource_version="not-a-version",
            seconds=2,
        )
    )
    assert states == []
