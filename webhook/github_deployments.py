"""GitHub deployments: the one deployment of a job (found by its payload before one is
created, so a retry never doubles it) and its statuses.

Owns: ``DeploymentState`` and the deployment calls of ``GitHubClient``. Must not touch: the
queue, the cluster, the config file; when a deployment is reported (the reporter decides).
"""

from __future__ import annotations

from typing import Any, Literal

from webhook.github_session import MAX_DESCRIPTION, GitHubSession
from webhook.text import cut

DeploymentState = Literal["in_progress", "queued", "success", "failure", "error", "inactive"]


class DeploymentsPart(GitHubSession):
    """Create a job's deployment once, and post its statuses."""

    def ensure_deployment(
        self, repo: str, sha: str, *, environment: str, job_id: int, description: str
    ) -> int:
        """The deployment of job ``job_id`` (found by its payload), created if missing."""
        gh_repo = self._connect(repo).get_repo(repo)

        def find() -> int | None:
            for deployment in gh_repo.get_deployments(sha=sha, environment=environment):
                payload = deployment.payload
                if isinstance(payload, dict) and payload.get("deployer_job") == job_id:
                    return int(deployment.id)
            return None

        found = self._call(
            f"deployments of {repo}@{sha[:7]}", find, op="list_deployments", repo=repo
        )
        if found is not None:
            return found
        created = self._call(
            f"deployment of {repo}@{sha[:7]}",
            lambda: gh_repo.create_deployment(
                sha,
                environment=environment,
                description=cut(description, MAX_DESCRIPTION),
                payload={"deployer_job": job_id},
                required_contexts=[],
                auto_merge=False,
            ),
            op="create_deployment",
            write=True,
            repo=repo,
        )
        return int(created.id)

    def create_deployment_status(
        self,
        repo: str,
        deployment_id: int,
        *,
        state: DeploymentState,
        description: str,
        log_url: str | None = None,
    ) -> None:
        gh_repo = self._connect(repo).get_repo(repo)
        # PyGithub names the link ``target_url`` (GitHub's older name for ``log_url``; GitHub
        # fills in both from either): it has no ``log_url`` argument.
        extra: dict[str, Any] = {"target_url": log_url} if log_url else {}

        def post() -> None:
            deployment = gh_repo.get_deployment(deployment_id)
            deployment.create_status(state, description=cut(description, MAX_DESCRIPTION), **extra)

        self._call(
            f"deployment status {deployment_id}",
            post,
            op="create_deployment_status",
            write=True,
            repo=repo,
        )
