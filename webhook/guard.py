"""The app's guardrails, checked on rendered objects before anything reaches the cluster.

Repository content is untrusted: whoever can merge into an app's folder decides what this
guard sees, so it denies by default whatever would let an app reach past its namespace.
Owns: the shape of each object (apiVersion, kind, names and namespaces valid per kind, so a
name like ``../../kube-system/configmaps/x`` never reaches an API path), defaulting the
namespace of namespaced objects, allowed namespaces, allowed cluster-scoped kinds (Namespace
included), Pod Security labels, bindings to everyone, forged ApplySet labels, token Secrets
for ServiceAccounts the app does not define, duplicates, the deployer's own namespace and
ServiceAccount (no Pod runs as it, no binding names it, no app writes into its namespace
without ``allow_deployer_namespace``),
(through ``webhook.pod_security``) the baseline Pod Security level of every pod template, and
the sync-order annotations (``webhook.hooks``), (through ``webhook.reach``) fields whose
effect reaches past the app (Service ``externalIPs``, endpoints for Services it does not
render, aggregated ClusterRoles, ``system-`` priority classes, Namespaces outside its allowed
namespaces); only a hook may use ``generateName``.
Every problem is collected, so one sync reports all of them at once.
Must not touch: the cluster (scope knowledge comes in as a callable), git, the queue.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from webhook import hooks, pod_security, reach
from webhook.errors import Rejected
from webhook.kube.applyset import ApplySet
from webhook.objects import Manifest, ObjectRef, defined_kinds, group_of, ref_of
from webhook.own_identity import OwnIdentity
from webhook.render import Rendered
from webhook.settings import AppConfig
from webhook.text import cut

#: ``(apiVersion, kind) -> True`` (namespaced), ``False`` (cluster-scoped), ``None`` (unknown).
ScopeLookup = Callable[[str, str], "bool | None"]

RBAC_GROUP = "rbac.authorization.k8s.io"
BINDINGS = frozenset({"RoleBinding", "ClusterRoleBinding"})
#: Subjects that stand for everyone (or for unlimited power): a binding to them is refused.
EVERYONE = frozenset(
    {"system:authenticated", "system:unauthenticated", "system:anonymous", "system:masters"}
)
POD_SECURITY = "pod-security.kubernetes.io/"
#: A Secret of this type makes Kubernetes issue a token of the ServiceAccount it names.
SERVICE_ACCOUNT_TOKEN = "kubernetes.io/service-account-token"
TOKEN_ACCOUNT = "kubernetes.io/service-account.name"
APPLYSET = "applyset.kubernetes.io/"

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL = re.compile(_LABEL)
DNS1123_SUBDOMAIN = re.compile(rf"{_LABEL}(\.{_LABEL})*")
DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
API_VERSION = re.compile(rf"({DNS1123_SUBDOMAIN.pattern}/)?{_LABEL}")
KIND = re.compile(r"[A-Za-z][A-Za-z0-9]{0,62}")


class GuardError(Rejected):
    """Objects break the app's guardrails; ``errors`` holds one line per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def is_path_segment(name: str) -> bool:
    """What every name must be: it is one segment of an API path."""
    return bool(name) and name not in (".", "..") and "/" not in name and "%" not in name


def name_problem(group: str, kind: str, name: str) -> str | None:
    """Why ``name`` is not a valid ``metadata.name`` for this kind (None: it is).

    Kubernetes' own rules per kind: Namespaces are DNS-1123 labels, Services DNS-1035
    labels, RBAC objects any path segment (``system:foo``), everything else a DNS-1123
    subdomain. Checked here so that no odd name ever becomes part of a request path.
    """
    if not is_path_segment(name):
        return "is not a valid path segment (empty, '.', '..', or contains '/' or '%')"
    if group == RBAC_GROUP:
        return None
    if group == "" and kind == "Namespace":
        valid, rule = len(name) <= 63 and DNS1123_LABEL.fullmatch(name), "DNS-1123 label"
    elif group == "" and kind == "Service":
        valid, rule = len(name) <= 63 and DNS1035_LABEL.fullmatch(name), "DNS-1035 label"
    else:
        valid, rule = len(name) <= 253 and DNS1123_SUBDOMAIN.fullmatch(name), "DNS-1123 subdomain"
    return None if valid else f"must be a {rule} (lowercase letters, digits, '-')"


def is_namespace_name(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 63 and bool(DNS1123_LABEL.fullmatch(value))


def _cluster_kind_allowed(app: AppConfig, ref: ObjectRef) -> bool:
    return ref.kind in app.allowed_cluster_kinds or ref.group_kind in app.allowed_cluster_kinds


def _shape(body: object) -> tuple[str, str, dict[str, Any], str] | str:
    """(apiVersion, kind, metadata, name) of a well-formed object, else the problem."""
    if not isinstance(body, dict):
        return "is not a mapping"
    api_version, kind = body.get("apiVersion"), body.get("kind")
    meta = body.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if isinstance(meta, dict) and not name and hooks.is_hook(body):
        # A hook is created anew each time: the server completes its generateName.
        prefix = meta.get("generateName")
        name = prefix if isinstance(prefix, str) and prefix else None
    fields = (("apiVersion", api_version), ("kind", kind), ("metadata.name", name))
    missing = [field for field, value in fields if not isinstance(value, str) or not value]
    if missing:
        return f"object without {', '.join(missing)}"
    assert isinstance(api_version, str) and isinstance(kind, str) and isinstance(meta, dict)
    assert isinstance(name, str)
    if len(api_version) > 253 or not API_VERSION.fullmatch(api_version):
        return f"apiVersion {api_version!r} is not 'group/version' or 'version'"
    if not KIND.fullmatch(kind):
        return f"kind {kind!r} is not a Kubernetes kind name"
    return api_version, kind, meta, name


def _metadata_problems(body: Manifest, meta: Mapping[str, Any]) -> list[str]:
    """Labels and annotations must be string maps; generated names cannot be tracked."""
    problems = []
    if "generateName" in meta and not (hooks.is_hook(body) and not meta.get("name")):
        problems.append(
            "metadata.generateName is supported only on hooks (argocd.argoproj.io/hook, "
            "helm.sh/hook): every other object needs a fixed name, so that it can be "
            "compared, owned and pruned"
        )
    for field in ("labels", "annotations"):
        value = meta.get(field)
        if value is None:
            continue
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            problems.append(f"metadata.{field} must map strings to strings")
    return problems


def _string_keys(meta: Mapping[str, Any], field: str) -> list[str]:
    value = meta.get(field)
    return [k for k in value if isinstance(k, str)] if isinstance(value, dict) else []


def _own_accounts(objects: Sequence[Rendered], app: AppConfig) -> set[tuple[str, str]]:
    """(namespace, name) of the ServiceAccounts the app itself renders."""
    out = set()
    for item in objects:
        body: object = item.body
        if not isinstance(body, dict) or (body.get("apiVersion"), body.get("kind")) != (
            "v1",
            "ServiceAccount",
        ):
            continue
        meta = body.get("metadata")
        if isinstance(meta, dict) and isinstance(meta.get("name"), str):
            out.add((str(meta.get("namespace") or app.namespace), meta["name"]))
    return out


def _token_problem(ref: ObjectRef, body: Manifest, accounts: set[tuple[str, str]]) -> str | None:
    """A token Secret for a ServiceAccount the app does not define: whoever mounts it acts as
    that account (another app's, the namespace's ``default``, or the deployer's own)."""
    if (ref.group, ref.kind) != ("", "Secret") or body.get("type") != SERVICE_ACCOUNT_TOKEN:
        return None
    annotations = body["metadata"].get("annotations") or {}
    account = annotations.get(TOKEN_ACCOUNT)
    if (ref.namespace, account) in accounts:
        return None
    return (
        f"is a {SERVICE_ACCOUNT_TOKEN} Secret for ServiceAccount {account!r}, which this app "
        "does not define: Kubernetes would issue that account's token to whoever mounts it"
    )


def _escalations(
    app: AppConfig, ref: ObjectRef, body: Manifest, accounts: set[tuple[str, str]]
) -> list[str]:
    """What an app must never do, whatever its other rights: see the module docstring."""
    meta = body["metadata"]
    problems = []
    token = _token_problem(ref, body, accounts)
    if token:
        problems.append(token)
    forged = sorted(
        f"{field[:-1]} {key}"
        for field in ("labels", "annotations")
        for key in _string_keys(meta, field)
        if key.startswith(APPLYSET) or key == hooks.HOOK_OF
    )
    if forged:
        problems.append(
            f"carries {', '.join(forged)}: ApplySet and hook labels and annotations are the "
            "deployer's to set (a forged one could claim or hide another app's objects)"
        )
    if ref == ApplySet(app.name, app.namespace).ref:
        problems.append(f"is named like app {app.name}'s ApplySet parent, which the deployer owns")
    if ref.group == "" and ref.kind == "Namespace" and not app.allow_pod_security_labels:
        labels = sorted(k for k in _string_keys(meta, "labels") if k.startswith(POD_SECURITY))
        if labels:
            problems.append(
                f"sets {', '.join(labels)}: app {app.name} may not change Pod Security "
                "labels (allow_pod_security_labels is off)"
            )
    if ref.group == RBAC_GROUP and ref.kind in BINDINGS:
        subjects = body.get("subjects")
        names = {
            s.get("name")
            for s in (subjects if isinstance(subjects, list) else [])
            if isinstance(s, dict)
        }
        for name in sorted(n for n in names if n in EVERYONE):
            problems.append(f"binds {name}: a binding to everyone (or to system:masters)")
    return problems


def _subject_is(own: OwnIdentity, subject: object, binding_namespace: str | None) -> bool:
    """Whether an RBAC subject includes the deployer's ServiceAccount: by name (a RoleBinding's
    ServiceAccount subject without a namespace means the binding's), as a user, or as a
    member of the ServiceAccount groups."""
    if not isinstance(subject, dict):
        return False
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return (namespace, name) == (own.namespace, own.service_account)
    if kind == "User":
        return name == own.username
    groups = ("system:serviceaccounts", f"system:serviceaccounts:{own.namespace}")
    return kind == "Group" and name in groups


def _pod_account(ref: ObjectRef, body: Manifest) -> str | None:
    """The ServiceAccount the pod in ``body`` runs as (``default`` when unnamed); None for
    kinds that hold no pods."""
    found = pod_security.pod_of(ref.group, ref.kind, body)
    if found is None:
        return None
    spec = found[1].get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    return account if isinstance(account, str) else None


def _self_problems(app: AppConfig, ref: ObjectRef, body: Manifest, own: OwnIdentity) -> list[str]:
    """What would hand an app the deployer's own rights, whatever the app's other options:
    its ServiceAccount's token (a Pod running as it, a binding naming it, the account itself)
    and, without ``allow_deployer_namespace``, anything in its namespace."""
    if own.namespace is None:
        return []
    problems = []
    opted_in = app.allow_deployer_namespace
    its_namespace = ref == ObjectRef("", "Namespace", None, own.namespace)
    if not opted_in and (ref.namespace == own.namespace or its_namespace):
        problems.append(
            f"is in the deployer's own namespace {own.namespace!r}, which app {app.name} may "
            "not touch (allow_deployer_namespace is off)"
        )
    if own.service_account is None:
        return problems
    mine = f"the deployer's own ServiceAccount {own.namespace}/{own.service_account}"
    if ref == ObjectRef("", "ServiceAccount", own.namespace, own.service_account):
        problems.append(f"is {mine}")
    if ref.namespace == own.namespace and _pod_account(ref, body) == own.service_account:
        problems.append(f"runs its pods as {mine}, whose token would be theirs")
    if ref.group == RBAC_GROUP and ref.kind in BINDINGS:
        subjects = body.get("subjects")
        if any(_subject_is(own, s, ref.namespace) for s in _items(subjects)):
            problems.append(f"binds {mine} (as a subject, by user name or by group)")
    return problems


def _items(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _namespace_problem(
    app: AppConfig, meta: dict[str, Any], allowed: Sequence[str], namespaced: bool
) -> str | None:
    """Default the namespace of namespaced objects; drop a stray one from cluster-scoped."""
    if not namespaced:
        meta.pop("namespace", None)
        return None
    namespace = meta.get("namespace") or app.namespace
    if not is_namespace_name(namespace):
        return f"metadata.namespace {namespace!r} is not a DNS-1123 label"
    meta["namespace"] = namespace
    if namespace not in allowed:
        return (
            f"namespace {namespace!r} is not allowed for app {app.name} "
            f"(allowed: {', '.join(allowed)})"
        )
    return None


def check(
    objects: Sequence[Rendered],
    app: AppConfig,
    is_namespaced: ScopeLookup,
    own: OwnIdentity | None = None,
) -> list[Manifest]:
    """Return the objects with namespaces defaulted, or raise GuardError listing every problem.

    Every cluster-scoped kind, Namespace included, must be listed in ``allowed_cluster_kinds``.
    ``own``: the deployer's identity (``Environment.own``); None protects nothing.
    """
    own = own or OwnIdentity()
    allowed = app.effective_allowed_namespaces
    crd_scopes = defined_kinds(item.body for item in objects)
    accounts = _own_accounts(objects, app)
    services = reach.own_services((item.body for item in objects), app.namespace)
    errors: list[str] = []
    seen: dict[ObjectRef, str] = {}
    out: list[Manifest] = []
    for item in objects:
        shape = _shape(item.body)
        if isinstance(shape, str):
            errors.append(f"{item.source}: {shape}")
            continue
        api_version, kind, _, name = shape
        generated = not shape[2].get("name")
        bad_name = name_problem(group_of(api_version), kind, name + "x" * generated)
        # A refused name is the repository's: quoted, and cut (it may be megabytes long).
        label = f"{item.source}: {kind} {name if bad_name is None else repr(cut(name, 300))}"
        problems = _metadata_problems(item.body, shape[2])
        if not problems:
            problems = hooks.problems(item.body)
        if bad_name:
            problems.append(f"metadata.name {bad_name}")
        if problems:
            errors += [f"{label}: {p}" for p in problems]
            continue
        body = copy.deepcopy(item.body)
        meta = body["metadata"]
        namespaced = is_namespaced(api_version, kind)
        if namespaced is None:
            namespaced = crd_scopes.get((group_of(api_version), kind))
        if namespaced is None:
            errors.append(
                f"{label}: the cluster does not serve {kind} in {api_version}, "
                "and no CustomResourceDefinition in this app defines it"
            )
            continue
        problem = _namespace_problem(app, meta, allowed, namespaced)
        ref = ref_of(body)
        if generated:  # one name per generateName prefix, for the duplicates check
            ref = ObjectRef(ref.group, ref.kind, ref.namespace, f"{name}*")
        if problem is None and not namespaced and not _cluster_kind_allowed(app, ref):
            problem = (
                f"cluster-scoped kind {ref.group_kind} is not in "
                f"allowed_cluster_kinds of app {app.name}"
            )
        problems = ([problem] if problem else []) + _escalations(app, ref, body, accounts)
        problems += _self_problems(app, ref, body, own)
        problems += reach.problems(app, ref, body, services)
        if app.pod_security == "baseline":
            problems += pod_security.violations(ref.group, ref.kind, body)
        if problems:
            errors += [f"{label}: {p}" for p in problems]
            continue
        if ref in seen:
            errors.append(f"{label}: {ref} is defined twice (also at {seen[ref]})")
            continue
        seen[ref] = item.source
        out.append(body)
    if errors:
        raise GuardError(errors)
    return out
