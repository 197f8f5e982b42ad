"""A kubeconfig is read once per sync no longer: once while the file is unchanged."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from webhook.kube import client


def _write(path: Path, server: str) -> None:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )


def test_an_unchanged_kubeconfig_is_read_once_and_a_changed_one_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    path = tmp_path / "kubeconfig"
    _write(path, "https://one.example:6443")
    first = client.client_configuration("c", path)
    assert client.client_configuration("c", path) is first
    _write(path, "https://two.example:6443")
    os.utime(path, ns=(1, 1))  # a different mtime even on a coarse clock
    second = client.client_configuration("c", path)
    assert (first.host, second.host) == ("https://one.example:6443", "https://two.example:6443")
    monkeypatch.setattr(client, "CONFIG_MAX_AGE", 0.0)
    assert client.client_configuration("c", path) is not second  # too old: read again
