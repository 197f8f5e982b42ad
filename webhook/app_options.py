"""Config shapes for what Argo CD and Flux users bring along: chart repositories, charts
from a registry, ``ignore_differences`` and CEL ``health_checks``.

Owns: these pydantic models and their validation at load (a bad URL, a JSON pointer without
its leading ``/``, a CEL expression that does not compile fail the config, not a sync).
Credentials are named, never held: ``username_env``/``password_env`` name environment
variables read at fetch time. Must not touch: the cluster, files, the network.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import cel
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REPO_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class HelmRepository(_Strict):
    """A chart repository (``https://``, index.yaml) or an OCI registry (``oci://``) that
    charts and chart dependencies may come from; nothing else is ever fetched."""

    name: str
    url: str
    #: Names of environment variables holding the credentials (never the values).
    username_env: str | None = None
    password_env: str | None = None
    #: Talk plain HTTP to an ``oci://`` registry (a registry on loopback in tests).
    plain_http: bool = False

    @field_validator("name")
    @classmethod
    def _name_is_plain(cls, value: str) -> str:
        if not _REPO_NAME.match(value):
            raise ValueError("must be lowercase letters, digits, '-' or '.'")
        return value

    @field_validator("url")
    @classmethod
    def _url_is_http_or_oci(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https", "oci") or not parts.hostname:
            raise ValueError("must be an http(s):// chart repository or an oci:// registry URL")
        if parts.username or parts.password:
            raise ValueError("must not hold credentials: use username_env and password_env")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        return value.rstrip("/")

    @field_validator("username_env", "password_env")
    @classmethod
    def _env_is_a_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError("must be the NAME of an environment variable (not its value)")
        return value

    @property
    def is_oci(self) -> bool:
        return self.url.startswith("oci://")


class ChartSource(_Strict):
    """A chart taken from a configured repository instead of the app folder (Argo CD's
    multiple sources): the app folder then holds only the values files."""

    #: The ``name`` of an entry in ``helm_repositories``.
    repo: str
    name: str
    #: An exact version: a deploy must not change because a repository published a chart.
    version: str

    @field_validator("name")
    @classmethod
    def _chart_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*", value):
            raise ValueError("must be a chart name (letters, digits, '-', '_', '.')")
        return value

    @field_validator("version")
    @classmethod
    def _exact_version(cls, value: str) -> str:
        if not re.fullmatch(r"v?\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]+)?", value):
            raise ValueError("must be an exact chart version such as 1.2.3 (no ranges)")
        return value


def _pointer(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"JSON pointer {value!r} must start with '/'")
    return value


class IgnoreDifference(_Strict):
    """Fields of matching objects the app neither applies nor reports as drift, as Argo CD's
    ``ignoreDifferences`` (``jsonPointers``, ``managedFieldsManagers``)."""

    group: str = ""
    kind: str
    name: str | None = None
    namespace: str | None = None
    json_pointers: tuple[str, ...] = ()
    #: Fields that these field managers own in the live object are left to them.
    managed_fields_managers: tuple[str, ...] = ()

    @field_validator("json_pointers")
    @classmethod
    def _pointers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_pointer(v) for v in value)

    @model_validator(mode="after")
    def _says_what(self) -> IgnoreDifference:
        if not self.json_pointers and not self.managed_fields_managers:
            raise ValueError("needs json_pointers or managed_fields_managers")
        return self

    def matches(self, group: str, kind: str, namespace: str | None, name: str) -> bool:
        return (
            self.group == group
            and self.kind == kind
            and self.name in (None, name)
            and self.namespace in (None, namespace)
        )


def _compiles(expression: str | None) -> str | None:
    if expression is None:
        return None
    try:
        cel.compile(expression)
    except Exception as exc:  # the library raises ValueError; any failure is a config error
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"CEL expression {expression!r} does not compile: {first}") from exc
    return expression


class HealthCheck(_Strict):
    """Health of a kind that does not follow kstatus, as Flux's ``healthCheckExprs``: CEL
    over the object (``metadata``, ``spec``, ``status`` are variables)."""

    api_version: str = Field(alias="apiVersion")
    kind: str
    current: str
    in_progress: str | None = Field(default=None, alias="inProgress")
    failed: str | None = None

    @field_validator("current", "in_progress", "failed")
    @classmethod
    def _valid_cel(cls, value: str | None) -> str | None:
        return _compiles(value)

    def programs(self) -> dict[str, Any]:
        """Compiled expressions by state name, in Flux's order of evaluation."""
        named = (("InProgress", self.in_progress), ("Failed", self.failed))
        out = {state: cel.compile(src) for state, src in named if src}
        out["Current"] = cel.compile(self.current)
        return out
