"""A connection to one cluster for one app, and the project's own Kubernetes errors.

Owns: building an ApiClient from a kubeconfig context or in-cluster config, impersonating the
app's ServiceAccount, a DynamicClient with its own discovery cache per cluster, and
translating every ``kubernetes``/``urllib3`` exception into ``KubeError`` (chained as cause).
Callers get plain dicts, never ``kubernetes`` types. Must not touch: git, rendering, the queue.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client as k8s_client, config as k8s_config, watch as k8s_watch
from kubernetes.dynamic import DynamicClient, exceptions as dyn_errors

from webhook.errors import Rejected, Unavailable
from webhook.kube import diff, dynamic_errors, throttle
from webhook.objects import Manifest

FIELD_MANAGER = "webhook-deployer"
#: Sent with every request, so the API server's audit log and its metrics name us.
USER_AGENT = "webhook-deployer"
#: Seconds one API request may take (connect, read); a hung apiserver is an outage.
REQUEST_TIMEOUT = (10.0, 60.0)
log = logging.getLogger(__name__)
IN_CLUSTER = "in-cluster"
#: Objects per page when listing names only.
LIST_PAGE = 500
#: Ask for metadata only: names without specs or data (Secrets' values never travel).
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
#: Seconds Helm's view of the cluster (served APIs, version) may come from the discovery
#: cache before it is read again: an operator installed since shows up within this time.
CAPABILITIES_MAX_AGE = 600.0
dynamic_errors.install()


class KubeError(Rejected):
    """The cluster refused or could not serve a request on its merits (an unreachable
    cluster raises ``errors.Unavailable`` instead)."""


class ApiError(KubeError):
    """The API server refused a request; ``status`` is its HTTP status."""

    def __init__(self, message: str, *, status: int, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class UnknownKind(KubeError):
    """The cluster does not serve this apiVersion/kind."""


def _message(exc: dyn_errors.DynamicApiError) -> tuple[str, str]:
    """The Status ``message`` and ``reason`` from an error body (text in kubernetes 37)."""
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        status = json.loads(body) if body else {}
    except (TypeError, ValueError):
        return (str(body)[:500] if body else f"{exc.status} {exc.reason}"), str(exc.reason or "")
    if not isinstance(status, dict):
        return str(body)[:500], str(exc.reason or "")
    return str(status.get("message") or exc.reason), str(status.get("reason") or exc.reason or "")


@contextlib.contextmanager
def translated(what: str, body: Manifest | None = None) -> Iterator[None]:
    """Re-raise client exceptions as ``KubeError``s whose message starts with ``what``; a
    Secret's values the server quotes from ``body``, the object written, are hidden."""
    try:
        yield
    except dyn_errors.ResourceNotFoundError as exc:
        raise UnknownKind(f"{what}: not served by the cluster") from exc
    except dyn_errors.DynamicApiError as exc:
        message, reason = _message(exc)
        message = diff.redact_message(message, body)
        if exc.status in (401, 502, 503, 504) or exc.status is None or exc.status == 0:
            raise Unavailable(f"{what}: {exc.status} {message}") from exc
        raise ApiError(f"{what}: {message}", status=int(exc.status), reason=reason) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise Unavailable(f"{what}: cluster unreachable: {exc}") from exc
    except k8s_config.ConfigException as exc:
        raise Unavailable(f"{what}: {exc}") from exc


def service_account_user(service_account: str, namespace: str) -> str:
    """``name`` (in ``namespace``) or ``ns:name`` -> the username the apiserver knows."""
    ns, _, name = service_account.rpartition(":")
    return f"system:serviceaccount:{ns or namespace}:{name}"


#: Seconds a client configuration stays in use (a kubeconfig file also while it is unchanged):
#: credentials an exec plugin issued are fetched again at least this often (tokens also
#: refresh on expiry by themselves; the in-cluster token file is read again every minute by
#: the client's own refresh hook).
CONFIG_MAX_AGE = 300.0
_configs: dict[tuple[str | None, str, int, int], tuple[float, k8s_client.Configuration]] = {}
_configs_lock = threading.Lock()


def client_configuration(context: str | None, kubeconfig: Path | None) -> k8s_client.Configuration:
    """The client configuration for ``context``, read once while its source is unchanged and
    younger than ``CONFIG_MAX_AGE`` (reading and parsing a kubeconfig took 120 ms of every
    sync). The same object comes back while it is valid, so callers may key on it."""
    path = Path(kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config").expanduser()
    try:
        stat = path.stat()
        source = (str(path), stat.st_mtime_ns, stat.st_size)
    except OSError:
        if not _in_cluster(context, path):
            return _read_configuration(context, kubeconfig)  # it says what is missing
        source = (IN_CLUSTER, 0, 0)
    key = (context, *source)
    now = time.monotonic()
    with _configs_lock:
        cached = _configs.get(key)
    if cached is not None and now - cached[0] < CONFIG_MAX_AGE:
        return cached[1]
    configuration = _read_configuration(context, kubeconfig)
    if configuration.host:
        with _configs_lock:
            # An older read of the same context goes; other contexts stay.
            for old in [k for k in _configs if k[0] == context]:
                del _configs[old]
            _configs[key] = (now, configuration)
    return configuration


def _in_cluster(context: str | None, path: Path) -> bool:
    """In a pod with no kubeconfig, "the current context" is the pod's own cluster."""
    in_pod = context is None and "KUBERNETES_SERVICE_HOST" in os.environ
    return context == IN_CLUSTER or (in_pod and not path.exists())


def _read_configuration(context: str | None, kubeconfig: Path | None) -> k8s_client.Configuration:
    configuration = k8s_client.Configuration()
    with translated(f"cluster {context or '(current context)'}"):
        path = Path(kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config").expanduser()
        if _in_cluster(context, path):
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(path),
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
    has_credentials = (
        any(configuration.api_key.values()) or configuration.cert_file or configuration.username
    )
    if not has_credentials:
        # Exec plugins (kubelogin) only log their failures: check the result ourselves.
        raise Unavailable(
            f"cluster {context or '(current context)'}: the kubeconfig yielded no credentials "
            "(did its exec plugin fail?)"
        )
    # One client serves every sync thread of the worker (``connections``), each sending a
    # tier several wide: connections beyond this are opened and closed per request.
    configuration.connection_pool_maxsize = 64
    return configuration


class Cluster:
    """One app's view of one cluster: discovery plus get/list/apply/delete on plain dicts."""

    def __init__(
        self,
        *,
        context: str | None,
        cache_dir: Path,
        kubeconfig: Path | None = None,
        impersonate: str | None = None,
        configuration: k8s_client.Configuration | None = None,
    ) -> None:
        """``configuration``: one already read by ``client_configuration``."""
        configuration = configuration or client_configuration(context, kubeconfig)
        #: What this cluster was built from (``connections`` rebuilds it when that changes).
        self.configuration = configuration
        self.api = k8s_client.ApiClient(configuration)
        self.api.user_agent = USER_AGENT
        throttle.install(self.api)  # a busy API server's 429: wait as it asks, send again
        if impersonate:
            self.api.set_default_header("Impersonate-User", impersonate)  # type: ignore[no-untyped-call]
        self.impersonate = impersonate
        key = f"{configuration.host}|{impersonate or ''}"
        #: Names this cluster and identity (for caches kept per cluster).
        self.identity = key
        cache = cache_dir / "discovery" / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
        cache.parent.mkdir(parents=True, exist_ok=True)
        self._cache_file = cache
        self._discovery_lock = threading.RLock()
        #: Resources found, by (apiVersion, kind): the discoverer's own look-up walks its
        #: whole cache under the lock, which every request of a wide tier would queue on.
        self._resources: dict[tuple[str, str], Any] = {}
        with translated(f"cluster {configuration.host}: discovery"):
            self.dynamic = DynamicClient(self.api, cache_file=str(cache))  # type: ignore[no-untyped-call]

    def close(self) -> None:
        self.api.close()  # type: ignore[no-untyped-call]

    # -- discovery (serialised: the lazy discoverer is not thread-safe) -----------------

    def resource(self, api_version: str, kind: str) -> Any:
        """The dynamic resource for apiVersion/kind; UnknownKind when not served."""
        key = (api_version, kind)
        found = self._resources.get(key)
        if found is not None:
            return found
        with self._discovery_lock, translated(f"{kind} ({api_version})"):
            found = self.dynamic.resources.get(api_version=api_version, kind=kind)
            self._resources[key] = found
            return found

    def is_namespaced(self, api_version: str, kind: str) -> bool | None:
        try:
            return bool(self.resource(api_version, kind).namespaced)
        except UnknownKind:
            return None

    def preferred(self, group: str, kind: str) -> Any | None:
        """The preferred version's resource for group/kind, or None when not served."""
        query = {"prefix": "api", "api_version": "v1"} if not group else {"group": group}
        with self._discovery_lock, translated(f"{kind}.{group}"):
            try:
                found = self.dynamic.resources.search(kind=kind, **query)
            except dyn_errors.ResourceNotFoundError:
                return None
        found = [r for r in found if r.kind == kind and "/" not in (r.name or "")]
        found = [r for r in found if r.group == group or (not group and not r.group)]
        preferred = [r for r in found if r.preferred]
        return (preferred or found or [None])[0]

    def capabilities(self) -> tuple[str, tuple[str, ...]]:
        """The server's version and every served ``group/version`` and
        ``group/version/Kind`` (what Helm's ``.Capabilities`` holds), from the discovery
        cache: after the first full read, a sync asks the server nothing for this, until
        the cache is ``CAPABILITIES_MAX_AGE`` seconds old."""
        with self._discovery_lock, translated("discovery"):
            try:
                age = time.time() - self._cache_file.stat().st_mtime
            except OSError:
                age = 0.0
            if age > CAPABILITIES_MAX_AGE:
                self._forget_discovery()
            version = str(((self.dynamic.version or {}).get("kubernetes") or {}).get("gitVersion"))
            try:
                found = self._served()
            except dyn_errors.NotFoundError:
                # A group the cached list names is gone (its CRD removed since): read again.
                self._forget_discovery()
                found = self._served()
        return version, tuple(sorted(found))

    def _served(self) -> set[str]:
        """Every served ``group/version`` and ``group/version/Kind``; the discoverer reads
        each group's resources the first time it walks them, so a 404 may come out."""
        found: set[str] = set()
        for entry in self.dynamic.resources:  # one list of resources per kind
            for resource in entry if isinstance(entry, list) else [entry]:
                name = getattr(resource, "name", None) or ""
                if not name or "/" in name or not getattr(resource, "kind", None):
                    continue  # subresources and the ResourceList pseudo-kinds
                found.add(resource.group_version)
                found.add(f"{resource.group_version}/{resource.kind}")
        return found

    def _forget_discovery(self) -> None:
        """Read discovery afresh from now on (and count its age for Helm from now)."""
        self._resources.clear()
        self.dynamic.resources.invalidate_cache()
        self._cache_file.touch()

    def refresh_discovery(self) -> None:
        with self._discovery_lock, translated("discovery"):
            self._forget_discovery()

    # -- requests --------------------------------------------------------------------

    def get(self, resource: Any, name: str, namespace: str | None) -> Manifest | None:
        what = f"{resource.kind} {namespace + '/' if namespace else ''}{name}"
        try:
            with translated(f"get {what}"):
                got = resource.get(
                    name=name,
                    namespace=namespace if resource.namespaced else None,
                    serialize=False,
                    _request_timeout=REQUEST_TIMEOUT,
                )
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return _decoded(got)

    def list(self, resource: Any, *, namespace: str | None, label_selector: str) -> list[Manifest]:
        with translated(f"list {resource.kind}"):
            got = resource.get(
                namespace=namespace,
                label_selector=label_selector,
                serialize=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        answer = _decoded(got)
        # A list's items carry no apiVersion or kind of their own: the list names them.
        kind = str(answer.get("kind") or "").removesuffix("List") or resource.kind
        api_version = answer.get("apiVersion") or resource.group_version
        items = [item for item in answer.get("items") or [] if isinstance(item, dict)]
        for item in items:
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items

    def names(self, resource: Any, *, namespace: str | None) -> set[str]:
        """Every object's name of this kind (in ``namespace``), read as metadata only and
        in pages, so a busy namespace costs a few small answers."""
        found: set[str] = set()
        token: str | None = None
        while True:
            with translated(f"list {resource.kind} names"):
                got = resource.get(
                    namespace=namespace,
                    limit=LIST_PAGE,
                    _continue=token,
                    header_params={"Accept": METADATA_LIST},
                    serialize=False,
                    _request_timeout=REQUEST_TIMEOUT,
                )
            page = _decoded(got)
            for item in page.get("items") or []:
                name = ((item or {}).get("metadata") or {}).get("name")
                if name:
                    found.add(str(name))
            token = (page.get("metadata") or {}).get("continue") or None
            if not token:
                return found

    def apply(self, resource: Any, body: Manifest, *, dry_run: bool, force: bool) -> Manifest:
        return self.applied(resource, body, dry_run=dry_run, force=force)[0]

    def applied(
        self, resource: Any, body: Manifest, *, dry_run: bool, force: bool
    ) -> tuple[Manifest, bool]:
        """``apply``'s answer, and whether this apply created the object (201 Created)."""
        meta = body["metadata"]
        what = f"{'dry-run ' if dry_run else ''}apply {resource.kind} "
        what += f"{meta.get('namespace') + '/' if meta.get('namespace') else ''}{meta['name']}"
        with translated(what, body):
            result = resource.server_side_apply(
                body=body,
                name=meta["name"],
                namespace=meta.get("namespace") if resource.namespaced else None,
                field_manager=FIELD_MANAGER,
                force_conflicts=force,
                dry_run="All" if dry_run else None,
                serialize=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        return _decoded(result), getattr(result, "status", None) == 201

    def json_patch(
        self, resource: Any, name: str, namespace: str | None, ops: Sequence[dict[str, Any]]
    ) -> Manifest:
        """A JSON patch (RFC 6902) of one object: ``managedFields`` moves (kube/csa.py)."""
        what = f"patch {resource.kind} {namespace + '/' if namespace else ''}{name}"
        with translated(what):
            result = resource.patch(
                body=[dict(op) for op in ops],
                name=name,
                namespace=namespace if resource.namespaced else None,
                content_type="application/json-patch+json",
                _request_timeout=REQUEST_TIMEOUT,
            )
        return _plain(result)

    def create(self, resource: Any, body: Manifest, *, dry_run: bool) -> Manifest:
        """POST a new object (``generateName`` hooks, recreated objects); 409 if it exists."""
        meta = body["metadata"]
        namespace = meta.get("namespace") if resource.namespaced else None
        what = f"{'dry-run ' if dry_run else ''}create {resource.kind} "
        name = meta.get("name") or f"{meta.get('generateName')}*"
        what += f"{namespace + '/' if namespace else ''}{name}"
        with translated(what, body):
            result = resource.create(
                body=body,
                namespace=namespace,
                field_manager=FIELD_MANAGER,
                dry_run="All" if dry_run else None,
                _request_timeout=REQUEST_TIMEOUT,
            )
        return _plain(result)

    def watch(
        self,
        resource: Any,
        name: str,
        namespace: str | None,
        *,
        resource_version: str | None,
        seconds: float,
    ) -> Iterator[Manifest | None]:
        """Each new state of one object (None once deleted) for up to ``seconds``.

        Ends quietly when the watch cannot go on (expired resourceVersion, a dropped
        connection): the caller falls back to polling, so a failed watch costs speed only.
        """
        try:
            # The dynamic client's own ``watch`` is this stream with every event wrapped in
            # a ResourceInstance (a tenth of a fleet worker's CPU went there): the raw
            # object is all we read.
            events = k8s_watch.Watch().stream(  # type: ignore[no-untyped-call]
                resource.get,
                namespace=namespace if resource.namespaced else None,
                field_selector=f"metadata.name={name}",
                resource_version=resource_version,
                serialize=False,
                timeout_seconds=max(1, math.ceil(seconds)),
            )
            for event in events:
                kind = event.get("type")
                if kind == "DELETED":
                    yield None
                elif kind in ("ADDED", "MODIFIED"):
                    yield _plain(event["raw_object"])
                elif kind == "ERROR":
                    return
        except Exception as exc:  # any failure means "poll instead"
            log.debug("watch of %s %s ended: %s", resource.kind, name, type(exc).__name__)

    def delete(
        self,
        resource: Any,
        name: str,
        namespace: str | None,
        *,
        preconditions: dict[str, str] | None = None,
    ) -> None:
        """Delete (background propagation); ``preconditions`` (``uid``, ``resourceVersion``)
        make the server refuse with 409 unless the object is still exactly the one seen."""
        what = f"delete {resource.kind} {namespace + '/' if namespace else ''}{name}"
        body = None
        if preconditions:
            body = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": preconditions}
        try:
            with translated(what):
                resource.delete(
                    name=name,
                    namespace=namespace if resource.namespaced else None,
                    body=body,
                    propagation_policy="Background",
                )
        except ApiError as exc:
            if exc.status != 404:
                raise


def _decoded(response: Any) -> Manifest:
    """The JSON body of a raw response, as plain dicts.

    The dynamic client would wrap every answer in ``ResourceInstance`` fields, and
    ``to_dict`` would unwrap them again: on a 500-object sync that was most of the client's
    own CPU time. The answer is JSON; reading it as such is all a caller needs.
    """
    try:
        value = json.loads(response.data)
    except (AttributeError, TypeError, ValueError) as exc:
        raise KubeError(f"unexpected answer from the API server: {exc}") from exc
    return _plain(value)


def _plain(value: Any) -> Manifest:
    if callable(getattr(value, "to_dict", None)):
        value = value.to_dict()
    if not isinstance(value, dict):
        raise KubeError(f"unexpected answer from the API server: {str(value)[:200]}")
    return value
