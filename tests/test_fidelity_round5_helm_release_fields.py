"""``.Release.IsInstall`` / ``IsUpgrade`` / ``Revision`` and ``lookup`` as a sync renders them.

Charts branch on them: bitnami/charts (Apache-2.0) refuses an upgrade whose generated
passwords are not given (``common.errors.upgrade.passwords.empty`` checks
``.Release.IsUpgrade``) and reads the live Secret with ``lookup`` to keep a password. Argo
CD renders with ``helm template``, so every sync is a first install (IsInstall true,
Revision 1, ``lookup`` finds nothing), and so does the deployer: this pins that choice
(documented in README "Helm releases as Argo CD renders them") against the real tools:
the deployer's render equals what ``helm install`` stored for its first revision on every
sync, and ``helm upgrade``'s second revision is where they part. The chart is written anew.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.plugins.cluster import ControlPlane
from webhook.render import Capabilities, HelmOptions, render

TEMPLATE = """{{- $live := lookup "v1" "ConfigMap" .Release.Namespace "shop-release" }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-release
data:
  isInstall: {{ .Release.IsInstall | quote }}
  isUpgrade: {{ .Release.IsUpgrade | quote }}
  revision: {{ .Release.Revision | quote }}
  namespace: {{ .Release.Namespace | quote }}
  lookedUp: {{ $live.data | default dict | len | quote }}
"""


def _helm(cp: ControlPlane, *args: str, cwd: Path) -> str:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "KUBECONFIG": str(cp.kubeconfig)}
    done = subprocess.run(["helm", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _data(text: str) -> dict[str, Any]:
    (doc,) = [d for d in yaml.safe_load_all(text) if d]
    return dict(doc["data"])


def test_every_sync_renders_a_first_install_as_argo_cd_does(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: shop\nversion: 1.0.0\n")
    (chart / "templates" / "release.yaml").write_text(TEMPLATE)

    def ours() -> dict[str, Any]:
        (out,) = render(
            chart,
            "apps/shop",
            release="shop",
            namespace=namespace,
            helm=HelmOptions(capabilities=Capabilities("v1.34.4")),
        )
        return dict(out.body["data"])

    _helm(control_plane, "install", "shop", ".", "--namespace", namespace, cwd=chart)
    installed = _data(_helm(control_plane, "get", "manifest", "shop", "-n", namespace, cwd=chart))
    assert ours() == installed
    assert installed == {
        "isInstall": "true",
        "isUpgrade": "false",
        "revision": "1",
        "namespace": namespace,
        "lookedUp": "0",
    }

    _helm(control_plane, "upgrade", "shop", ".", "--namespace", namespace, cwd=chart)
    upgraded = _data(_helm(control_plane, "get", "manifest", "shop", "-n", namespace, cwd=chart))
    assert (upgraded["isUpgrade"], upgraded["revision"]) == ("true", "2")
    assert ours() == installed  # still a first install, lookup still empty: Argo CD's render
