"""Helm hooks of one weight run in kind order: the ServiceAccount before the Job that uses it.

kubernetes/ingress-nginx (Apache-2.0), ``templates/admission-webhooks/job-patch/``: the
admission webhook's ServiceAccount, Role and RoleBinding and the ``create`` Job that runs as
that account are all ``pre-install,pre-upgrade`` hooks with no ``helm.sh/hook-weight``. Helm
orders hooks of one weight by its ``InstallOrder`` of kinds and Argo CD by its ``kindOrder``:
the account and its RBAC first, the Job last. The deployer ordered them by kind *name*:
ClusterRole..., Job, Role, RoleBinding, ServiceAccount: the Job ran (and was waited on) before
the account its Pod needs existed.

Then the deployer deleted each ``hook-succeeded`` hook as soon as it had succeeded: the
ServiceAccount was gone before the Job ran. Helm deletes an event's succeeded hooks after its
last hook ran (Argo CD at the end of the sync); the deployer now waits for the whole phase.

The reference is the real ``helm install`` into the suite's API server: the order in which
it created the hooks, read from the API server's audit log, must be the deployer's order,
and neither leaves a hook behind.
The chart is a reduced shape of that one, written anew.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from kubernetes import client, config

from tests.audit import AuditLog
from tests.gitops import make_gitops
from webhook.settings import HelmConfig

HOOK = """  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
"""
TEMPLATES = {
    "job.yaml": """apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-admission-create
%(hook)sspec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      serviceAccountName: {{ .Release.Name }}-admission
      containers:
      - name: create
        image: registry.k8s.io/pause:3.10
""",
    "role.yaml": """apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ .Release.Name }}-admission
%(hook)srules:
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, create]
""",
    "rolebinding.yaml": """apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ .Release.Name }}-admission
%(hook)sroleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ .Release.Name }}-admission
subjects:
- kind: ServiceAccount
  name: {{ .Release.Name }}-admission
  namespace: {{ .Release.Namespace }}
""",
    "serviceaccount.yaml": """apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .Release.Name }}-admission
%(hook)s""",
    "configmap.yaml": """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-controller
data: {a: "1"}
""",
}
HOOK_KINDS = {"serviceaccounts", "roles", "rolebindings", "jobs"}


def _chart(root: Path) -> dict[str, str]:
    files = {"Chart.yaml": "apiVersion: v2\nname: ingress\nversion: 1.0.0\n"}
    files |= {f"templates/{k}": v % {"hook": HOOK} for k, v in TEMPLATES.items()}
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return {f"apps/shop/{k}": v for k, v in files.items()}


def _created(audit: AuditLog, mark: int, agent: str, release: str) -> list[str]:
    """The hook kinds in the order ``agent`` created them (their first create)."""
    seen: list[str] = []
    for r in audit.since(mark, user_agent=agent):
        named = (r.name or "").startswith(f"{release}-")
        hook = r.verb == "create" and not r.dry_run and r.resource in HOOK_KINDS and named
        if hook and r.resource not in seen:
            seen.append(r.resource)
    return seen


def test_hooks_of_one_weight_run_in_helm_install_s_kind_order(
    tmp_path: Path, control_plane_with_nodes: Any, namespace_with_nodes: str
) -> None:
    cp, namespace = control_plane_with_nodes, namespace_with_nodes
    audit = AuditLog(cp.dir / "audit.log", cp.kubeconfig)
    chart = tmp_path / "chart"
    files = _chart(chart)

    mark = audit.mark()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "KUBECONFIG": str(cp.kubeconfig)}
    argv = ["helm", "install", "ref", ".", "-n", namespace, "--timeout", "120s"]
    done = subprocess.run(argv, cwd=chart, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    helm_order = _created(audit, mark, "Helm", "ref")
    assert helm_order == ["serviceaccounts", "roles", "rolebindings", "jobs"]

    ops = make_gitops(tmp_path, cp.kubeconfig, namespace)
    mark = audit.mark()
    result = ops.sync(ops.commit(files), helm=HelmConfig(release_name="ours"), health_timeout=120.0)

    assert result.ok, result.errors
    assert _created(audit, mark, "webhook-deployer", "ours") == helm_order
    # hook-succeeded: gone once the phase is over, as helm install leaves none behind
    assert {(h.object, h.status, h.deleted) for h in result.hooks} == {
        (f"{kind} {namespace}/ours-{name}", "succeeded", True)
        for kind, name in [
            ("ServiceAccount", "admission"),
            ("Role", "admission"),
            ("RoleBinding", "admission"),
            ("Job", "admission-create"),
        ]
    }
    core = client.CoreV1Api(config.new_client_from_config(config_file=str(cp.kubeconfig)))
    try:
        accounts = {a.metadata.name for a in core.list_namespaced_service_account(namespace).items}
    finally:
        core.api_client.close()
    assert not {"ref-admission", "ours-admission"} & accounts
