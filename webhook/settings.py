"""Typed settings: the YAML config file (apps, repos); the environment is ``webhook.environment``.

Validated once at start. Errors name the file, the app and the key, so a person can fix
them without reading code. Secrets come only from the environment, never from the file.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from webhook import memory
from webhook.app_options import ChartSource, HealthCheck, HelmRepository, IgnoreDifference
from webhook.directory_glob import DirectoryFilter, compile_glob
from webhook.environment import (
    DEFAULT_BIND as DEFAULT_BIND,
    DEFAULT_CONFIG_FILE as DEFAULT_CONFIG_FILE,
    DEFAULT_DATABASE_URL as DEFAULT_DATABASE_URL,
    DEFAULT_LEASE as DEFAULT_LEASE,
    DEFAULT_MAX_BODY_BYTES as DEFAULT_MAX_BODY_BYTES,
    DEFAULT_REQUEST_TIMEOUT as DEFAULT_REQUEST_TIMEOUT,
    AuthMode as AuthMode,
    ConfigError as ConfigError,
    Environment as Environment,
    config_path as config_path,
)
from webhook.own_identity import OwnIdentity

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
REPO_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


def _dns_label(value: str) -> str:
    if not DNS1123_LABEL.fullmatch(value):
        raise ValueError("must be a DNS-1123 label (lowercase letters, digits, '-'; 63 at most)")
    return value


def _service_account(value: str) -> str:
    namespace, _, name = value.rpartition(":")
    valid_name = len(name) <= 253 and re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name)
    if not valid_name or (namespace and not DNS1123_LABEL.fullmatch(namespace)):
        raise ValueError("must be a ServiceAccount name, or 'namespace:name'")
    return value


#: App names and namespaces: they become label values, object names and API paths.
DnsLabel = Annotated[str, AfterValidator(_dns_label)]
#: ``name`` (in the app's namespace) or ``namespace:name``.
ServiceAccount = Annotated[str, AfterValidator(_service_account)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HelmConfig(_Strict):
    """How to render an app whose folder holds a ``Chart.yaml``."""

    release_name: str | None = None
    #: Values files, relative to the app folder (inside the commit's tree).
    values_files: tuple[str, ...] = ()
    #: The chart from a ``helm_repositories`` entry instead of the app folder, which then
    #: holds only the values files (Argo CD's multiple sources).
    chart: ChartSource | None = None
    #: ``helm template --skip-schema-validation`` (Argo CD's ``skipSchemaValidation``, Flux's
    #: ``disableSchemaValidation``): for a chart whose ``values.schema.json`` names a URL,
    #: which is refused otherwise (helm would fetch it from the deployer's network).
    skip_schema_validation: bool = False


class KustomizeConfig(_Strict):
    """What a kustomization of this app may fetch or run (nothing, by default)."""

    #: Hosts remote bases may come from (``github.com``); none: kustomize stays offline.
    allowed_remote_hosts: tuple[str, ...] = ()
    #: Let ``helmCharts`` inflate charts (from the folder, or from an allowed host).
    enable_helm: bool = False


class DirectoryConfig(_Strict):
    """Which files of a plain folder (no kustomization, no ``Chart.yaml``) the app reads:
    Argo CD's ``spec.source.directory`` (``directory_glob``). Folders with a kustomization
    or a chart ignore it, as Argo CD does."""

    #: Read subfolders too. True by default (Flux's way, and this deployer's before the
    #: option); Argo CD's ``recurse`` defaults to false.
    recurse: bool = True
    #: Read only files whose path relative to the app folder matches this glob.
    include: str | None = None
    #: Leave out files whose relative path matches this glob; wins over ``include``.
    exclude: str | None = None

    @field_validator("include", "exclude")
    @classmethod
    def _glob_compiles(cls, value: str | None) -> str | None:
        if value:
            try:
                compile_glob(value)
            except ValueError as exc:
                raise ValueError(f"glob {value!r} {exc}") from None
        return value

    @property
    def filter(self) -> DirectoryFilter:
        return DirectoryFilter(recurse=self.recurse, include=self.include, exclude=self.exclude)


class AppConfig(_Strict):
    """One app: a folder of manifests in a repo branch, synced to one cluster namespace."""

    name: DnsLabel
    repo: str
    branch: str = "main"
    path: str
    namespace: DnsLabel
    #: kubeconfig context; ``in-cluster`` for the pod's service account; None: current context.
    cluster: str | None = None
    auto_sync: bool = True
    prune: bool = False
    #: Namespaces and CRDs are pruned only when this is also set: losing them loses data.
    prune_cluster_scoped: bool = False
    allowed_namespaces: tuple[DnsLabel, ...] = ()
    #: Cluster-scoped kinds this app may manage, as ``Kind`` or ``Kind.group``.
    allowed_cluster_kinds: tuple[str, ...] = ()
    #: Impersonate this ServiceAccount (``name`` in the app namespace, or ``ns:name``).
    service_account: ServiceAccount | None = None
    #: Seconds to wait for health; five minutes covers a typical rolling update. May exceed
    #: the job lease (60 s): the heartbeat keeps the lease while the wait runs.
    health_timeout: float = Field(default=300.0, gt=0)
    #: Take over fields other managers own; our objects are ours to set.
    force_conflicts: bool = True
    helm: HelmConfig = HelmConfig()
    kustomize: KustomizeConfig = KustomizeConfig()
    directory: DirectoryConfig = DirectoryConfig()
    #: More repository paths whose change deploys this app, beside its folder and what its
    #: last render read: files, folders, or globs (``*``, ``?``, ``[...]`` within a name,
    #: ``**`` across folders), relative to the repository root.
    paths: tuple[str, ...] = ()
    #: Create a GitHub Deployment per sync in this environment (None: no deployments).
    deployment_environment: str | None = None
    #: Take over live objects that exist without this app's ApplySet label (and that no
    #: configured app owns). Off: such an object fails the sync, so no app overwrites or
    #: later prunes what it did not create.
    adopt: bool = False
    #: Let this app set ``pod-security.kubernetes.io/*`` labels on Namespaces. Off: a repo
    #: cannot lift its namespace's Pod Security level (``enforce: privileged``).
    allow_pod_security_labels: bool = False
    #: Let this app's Services set ``spec.externalIPs``. Off: kube-proxy on every node
    #: would capture traffic to any address the repository names (CVE-2020-8554).
    allow_service_external_ips: bool = False
    #: Let this app's ClusterRoles aggregate (``aggregationRule``, the
    #: ``rbac.authorization.k8s.io/aggregate-to-*`` labels). Off: a repository could add rules
    #: to the built-in ``admin``/``edit``/``view`` roles, held in every namespace.
    allow_role_aggregation: bool = False
    #: ``baseline``: every pod template this app renders must meet the Pod Security Standards'
    #: baseline level, whatever its namespace's labels (no privileged, hostPath, host network).
    #: ``privileged``: no check, for apps that really run node agents.
    pod_security: Literal["baseline", "privileged"] = "baseline"
    #: Fields neither applied nor reported as drift (Argo CD's ``ignoreDifferences``).
    ignore_differences: tuple[IgnoreDifference, ...] = ()
    #: CEL health rules for kinds that do not follow kstatus (Flux's ``healthCheckExprs``).
    health_checks: tuple[HealthCheck, ...] = ()
    #: Let this app deploy into the deployer's own namespace (``DEPLOYER_NAMESPACE``). Off:
    #: such an app is refused at load, as its repository could replace the deployer's
    #: Deployment, read its Secret (the webhook secret) or run Pods as its ServiceAccount.
    allow_deployer_namespace: bool = False

    @field_validator("repo")
    @classmethod
    def _repo_is_owner_name(cls, value: str) -> str:
        if not REPO_NAME.match(value):
            raise ValueError("must be 'owner/name' as GitHub names it")
        return value

    @field_validator("branch")
    @classmethod
    def _branch_is_plain(cls, value: str) -> str:
        if not value or value.startswith("refs/") or ".." in value or " " in value:
            raise ValueError("must be a branch name such as 'main' (not a ref path)")
        return value

    @field_validator("path")
    @classmethod
    def _path_is_relative_folder(cls, value: str) -> str:
        posix = PurePosixPath(value)
        if not value.strip() or posix.is_absolute() or ".." in posix.parts:
            raise ValueError("must be a relative folder in the repo, without '..'")
        normal = str(posix)
        if normal in ("", "."):
            raise ValueError("must not be empty or '.'")
        return normal

    @field_validator("paths")
    @classmethod
    def _paths_stay_in_the_repo(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            posix = PurePosixPath(entry)
            if not entry.strip() or posix.is_absolute() or ".." in posix.parts:
                raise ValueError(f"{entry!r}: must be a path or glob in the repo, without '..'")
        return value

    @model_validator(mode="after")
    def _namespace_is_allowed(self) -> AppConfig:
        if self.allowed_namespaces and self.namespace not in self.allowed_namespaces:
            raise ValueError(
                f"namespace {self.namespace!r} is not in allowed_namespaces "
                f"{list(self.allowed_namespaces)}"
            )
        return self

    @model_validator(mode="after")
    def _not_in_the_deployers_namespace(self, info: ValidationInfo) -> AppConfig:
        """``load_config`` passes the deployer's identity as ``own`` in the context."""
        own = info.context.get("own") if isinstance(info.context, dict) else None
        if not isinstance(own, OwnIdentity) or own.namespace is None:
            return self
        used = own.namespace in (self.namespace, *self.allowed_namespaces)
        if used and not self.allow_deployer_namespace:
            raise ValueError(
                f"namespace {own.namespace!r} is the deployer's own (DEPLOYER_NAMESPACE): "
                "the app's repository could take over the deployer and its rights there; "
                "deploy elsewhere, or set allow_deployer_namespace: true if that "
                "repository is as trusted as the deployer itself"
            )
        return self

    @property
    def effective_allowed_namespaces(self) -> tuple[str, ...]:
        """An app without an explicit list may only use its own namespace."""
        return self.allowed_namespaces or (self.namespace,)


class RepoConfig(_Strict):
    """Per-repo overrides."""

    clone_url: str | None = None


ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class NotificationConfig(_Strict):
    """One outgoing notification target for sync results (``notifications:``)."""

    #: The environment variable holding the webhook URL: the URL is a secret (anyone who
    #: has it can post to the channel), so the file names the variable, never the URL.
    url_env: str
    #: ``slack`` (incoming webhook), ``teams`` (Adaptive Card, Workflows or connector
    #: webhook), or ``json`` (the run record, for any receiver).
    kind: Literal["slack", "teams", "json"] = "json"
    #: Only these apps' results; empty: every app.
    apps: tuple[str, ...] = ()
    #: The target's name in the idempotency key (job id + name); default ``kind:url_env``.
    name: str | None = None

    @field_validator("url_env")
    @classmethod
    def _is_env_name(cls, value: str) -> str:
        if not ENV_NAME.match(value):
            raise ValueError("must be an environment variable name such as SLACK_WEBHOOK_URL")
        return value

    @property
    def key(self) -> str:
        return self.name or f"{self.kind}:{self.url_env}"


class HookConfig(_Strict):
    """A repository webhook whose deliveries are read back (``recover_deliveries.hooks``)."""

    repo: str
    #: The hook's id: in its settings page URL, and in every delivery's ``X-GitHub-Hook-ID``.
    hook_id: int = Field(gt=0)


class RecoveryConfig(_Strict):
    """Recovery of missed deliveries from GitHub's deliveries API (``recover_deliveries``)."""

    #: Seconds between rounds, the first at start; 0 turns recovery off. Five minutes: a
    #: missed delivery waits at most that long, and a round costs a few read requests.
    interval: float = Field(default=300.0, ge=0)
    #: Repository hooks to read (needs the "Webhooks: read" permission on the repo).
    hooks: tuple[HookConfig, ...] = ()
    #: Read the GitHub App's own hook too (``GET /app/hook/deliveries``, with the App's JWT).
    app_hook: bool = False
    #: Deliveries older than this many seconds are left alone (GitHub keeps three days).
    lookback: float = Field(default=86400.0, gt=0)
    #: At most this many missed deliveries are fetched and processed per round.
    max_per_round: int = Field(default=50, gt=0)
    #: Seconds between two requests of a round: reads are paced too.
    pace: float = Field(default=0.5, ge=0)


class DeployerConfig(_Strict):
    """The whole config file."""

    apps: tuple[AppConfig, ...] = ()
    repos: dict[str, RepoConfig] = Field(default_factory=dict)
    #: Seconds between drift checks; 0 disables. Five minutes bounds a lost delivery's delay.
    resync_interval: float = Field(default=300.0, ge=0)
    #: Read webhooks' recent deliveries back from GitHub and process those never accepted.
    recover_deliveries: RecoveryConfig = Field(default_factory=RecoveryConfig)
    #: Commit status contexts are ``<prefix><app>``.
    status_context_prefix: str = "deploy/"
    #: Public base URL of this deployer, for status ``target_url`` links.
    public_url: str | None = None
    #: Run PR previews for pull requests from forks (their manifests are untrusted).
    preview_forks: bool = False
    #: ServiceAccount (``name`` in each app's namespace, or ``ns:name``) impersonated by apps
    #: without their own ``service_account``, as Flux's ``--default-service-account``: an app
    #: then holds only what that account holds, and RBAC stops it granting more.
    #: None: such apps use the deployer's own identity.
    default_service_account: ServiceAccount | None = None
    #: The only chart repositories and OCI registries charts may come from (none: no
    #: chart is ever fetched; dependencies must be vendored in ``charts/``).
    helm_repositories: tuple[HelmRepository, ...] = ()

    @model_validator(mode="after")
    def _charts_from_listed_repositories(self) -> DeployerConfig:
        names = {r.name for r in self.helm_repositories}
        for app in self.apps:
            if app.helm.chart is not None and app.helm.chart.repo not in names:
                raise ValueError(
                    f"app {app.name!r}: helm.chart.repo {app.helm.chart.repo!r} is not in "
                    "helm_repositories"
                )
        return self

    #: Who may see the page and the API (see ``AuthMode``); None: decided by the environment.
    auth: AuthMode | None = None

    #: Outgoing notifications of sync results (Slack, Teams, JSON webhooks); none by default.
    notifications: tuple[NotificationConfig, ...] = ()

    @model_validator(mode="after")
    def _names_unique(self) -> DeployerConfig:
        seen: set[str] = set()
        dupes = sorted({a.name for a in self.apps if a.name in seen or seen.add(a.name)})  # type: ignore[func-returns-value]
        if dupes:
            raise ValueError(f"app names must be unique; repeated: {', '.join(dupes)}")
        return self

    @model_validator(mode="after")
    def _notifications_name_apps(self) -> DeployerConfig:
        names = {a.name for a in self.apps}
        for target in self.notifications:
            unknown = sorted(set(target.apps) - names)
            if unknown:
                raise ValueError(
                    f"notifications: {target.key}: unknown app(s) {', '.join(unknown)}"
                )
        keys = [t.key for t in self.notifications]
        if len(set(keys)) != len(keys):
            raise ValueError("notifications: each target needs its own url_env or name")
        return self

    def app(self, name: str) -> AppConfig | None:
        return next((a for a in self.apps if a.name == name), None)

    def clone_url(self, repo: str) -> str:
        override = self.repos.get(repo)
        if override is not None and override.clone_url:
            return override.clone_url
        return f"https://github.com/{repo}.git"


def _describe(path: Path, raw: Mapping[str, Any], error: ValidationError) -> list[str]:
    """Turn pydantic errors into lines naming the file, the app and the key."""
    lines = []
    raw_apps = raw.get("apps")
    apps: list[Any] = raw_apps if isinstance(raw_apps, list) else []
    for err in error.errors():
        loc = list(err["loc"])
        where = ".".join(str(p) for p in loc) or "(top level)"
        if len(loc) >= 2 and loc[0] == "apps" and isinstance(loc[1], int):
            index = loc[1]
            entry = apps[index] if index < len(apps) else None
            name = entry.get("name") if isinstance(entry, dict) else None
            key = ".".join(str(p) for p in loc[2:]) or "(entry)"
            app = f"app {name!r}" if name else f"app #{index + 1}"
            where = f"{app}, key {key}"
        message = err["msg"].removeprefix("Value error, ")
        lines.append(f"{path}: {where}: {message}")
    return lines


#: libyaml's safe loader where PyYAML was built with it: the pure-Python one took 45 s of a
#: 5,000-app config's start-up on a busy 2-core machine, and left its garbage resident.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_config(path: Path, own: OwnIdentity | None = None) -> DeployerConfig:
    """Read and validate the config file; raise ConfigError listing every problem.

    ``own``: the deployer's identity, whose namespace apps may not use without opting in;
    None reads it from the environment (``OwnIdentity.from_environ``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read config file: {exc.strerror or exc}"]) from exc
    try:
        raw = yaml.load(text, Loader=_LOADER)  # a safe loader: plain data only
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}"]) from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([f"{path}: the top level must be a mapping with 'apps' and 'repos'"])
    try:
        own = own if own is not None else OwnIdentity.from_environ()
        config = DeployerConfig.model_validate(raw, context={"own": own})
    except ValidationError as exc:
        raise ConfigError(_describe(path, raw, exc)) from exc
    # Packed: parsing leaves the config's objects scattered among the allocator's holes
    # (5,000 apps: 42 MB resident for 12 MB of objects). Copied once everything else is
    # freed, they fill fresh arenas (12 MB). Our own bytes, so unpickling them is safe.
    packed = pickle.dumps(config, protocol=pickle.HIGHEST_PROTOCOL)
    del config, raw, text
    memory.release()
    return pickle.loads(packed)  # type: ignore[no-any-return]
