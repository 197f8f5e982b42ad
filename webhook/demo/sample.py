"""The demo's sample repository and the deliveries GitHub would send about it.

Two apps in one repository (``demo/shop``): ``shop`` syncs automatically (a Namespace, a
Deployment, a Service and a PreSync migration Job in Argo CD's hook annotation), ``billing``
waits for approval (``auto_sync: false``). Deliveries are built and signed here exactly as
GitHub builds them (the fields the deployer reads, HMAC-SHA256 of the raw body).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import yaml

REPO = "demo/shop"
NAMESPACES = {"shop": "demo-shop", "billing": "demo-billing"}


def _deployment(name: str, namespace: str, image: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "ports": [{"containerPort": 8080}],
        "securityContext": {"allowPrivilegeEscalation": False},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def app_files(name: str, *, image: str = "nginx:1.27", replicas: int = 1) -> dict[str, str]:
    """The manifests of app ``name`` as files under ``apps/<name>/``."""
    namespace = NAMESPACES[name]
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        _deployment(name, namespace, image, replicas),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    ]
    files = {f"apps/{name}/app.yaml": yaml.safe_dump_all(objects, sort_keys=False)}
    if name == "shop":
        # Runs before the rest is applied once PreSync hooks are honoured; unchanged from
        # commit to commit, so it is applied once either way.
        migrate = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": "migrate-db",
                "namespace": namespace,
                "annotations": {"argocd.argoproj.io/hook": "PreSync"},
            },
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {"name": "migrate", "image": image, "command": ["/bin/true"]}
                        ],
                    }
                },
            },
        }
        files[f"apps/{name}/migrate.yaml"] = yaml.safe_dump(migrate, sort_keys=False)
    return files


class Repo:
    """The sample repository: a real git repository the deployer clones over file://."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "--quiet", "--initial-branch=main")
        self.git("config", "user.name", "Demo Developer")
        self.git("config", "user.email", "dev@demo.invalid")

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=self.path, check=True, capture_output=True, text=True
        )
        return done.stdout.strip()

    def commit(self, files: dict[str, str], message: str) -> tuple[str, list[str]]:
        """Write ``files`` on the current branch and commit; the SHA and the paths."""
        for name, text in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        self.git("add", "--", *files)
        self.git("commit", "--quiet", "-m", message)
        return self.git("rev-parse", "HEAD"), sorted(files)

    def head(self, ref: str = "HEAD") -> str:
        return self.git("rev-parse", ref)


def push_event(repo: str, before: str, after: str, files: list[str], message: str) -> Any:
    """A push of one commit to ``main``, as GitHub describes it."""
    commit = {
        "id": after,
        "message": message,
        "added": [],
        "removed": [],
        "modified": files,
        "author": {"name": "Demo Developer", "email": "dev@demo.invalid"},
    }
    return {
        "ref": "refs/heads/main",
        "before": before,
        "after": after,
        "created": False,
        "deleted": False,
        "forced": False,
        "commits": [commit],
        "head_commit": commit,
        "repository": _repository(repo),
        "sender": {"login": "demo-developer"},
    }


def pull_request_event(
    repo: str, action: str, number: int, head: str, base: str, *, merge: str | None = None
) -> Any:
    """A ``pull_request`` event from a branch of ``repo`` itself (not a fork)."""
    repository = _repository(repo)
    pull: dict[str, Any] = {
        "number": number,
        "title": "Scale the shop to two replicas",
        "state": "closed" if merge else "open",
        "merged": merge is not None,
        "merge_commit_sha": merge,
        "head": {"ref": "feature", "sha": head, "repo": repository},
        "base": {"ref": "main", "sha": base, "repo": repository},
        "user": {"login": "demo-developer"},
    }
    return {"action": action, "number": number, "pull_request": pull, "repository": repository}


def _repository(repo: str) -> dict[str, Any]:
    owner, name = repo.split("/")
    return {"full_name": repo, "name": name, "owner": {"login": owner}, "default_branch": "main"}


def signed(event: str, payload: Any, secret: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers GitHub sends for ``payload``, signed with ``secret``."""
    body = json.dumps(payload).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "1",
        "X-Hub-Signature-256": f"sha256={digest}",
        "User-Agent": "GitHub-Hookshot/demo",
    }
