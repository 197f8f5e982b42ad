"""``helm template`` as ``helm install`` would render it on the target cluster.

``--skip-tests`` (test hooks are never applied); ``--include-crds`` with each document from a
chart's ``crds/`` folder marked ``crd`` (never templated: Helm copies them as they are);
``--kube-version`` and ``--api-versions`` from the cluster's discovery (``Capabilities``,
plain data the engine passes), plus the API versions the chart's own CRDs serve, as
``helm install`` applies CRDs before it renders the templates. Hooks stay in the output as
annotated documents (``helm.sh/hook``): whoever applies them gives them their phase.
Dependencies are laid out by helm_deps.py; the chart itself may come from an allow-listed
repository (``helm.chart``), the values files from the app folder. Schemas that would make
helm load a file or URL are refused first (chart_schema.py). Helm runs with a clean
environment (tools.py): no repositories, registries, plugins or kubeconfig of its own.
Must not touch: git, the cluster.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webhook.app_options import ChartSource, HelmRepository
from webhook.render import limits, tools
from webhook.render.chart_fetch import fetch_chart
from webhook.render.chart_schema import check_chart
from webhook.render.documents import parse_stream
from webhook.render.helm_deps import prepare_chart
from webhook.render.output import Rendered, RenderError

#: The Kubernetes version helm templates against when the cluster's is not known.
HELM_KUBE_VERSION = "1.34"
_SOURCE = re.compile(r"^# Source: (.+)$", re.MULTILINE)
#: ``chart/crds/x.yaml``, ``chart/charts/sub/crds/x.yaml``: Helm's CRD folders.
_CRD_SOURCE = re.compile(r"^[^/]+(?:/charts/[^/]+)*/crds/")


@dataclass(frozen=True)
class Capabilities:
    """What ``.Capabilities`` tells templates: the cluster's version and served APIs
    (``group/version`` and ``group/version/Kind``, as Helm's ``--api-versions`` takes)."""

    kube_version: str
    api_versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class HelmOptions:
    """Everything a Helm render needs beyond the folder; plain data from the engine."""

    capabilities: Capabilities | None = None
    #: The only repositories charts and dependencies may come from.
    repositories: tuple[HelmRepository, ...] = ()
    #: Take the chart from a repository; the app folder holds the values files.
    chart: ChartSource | None = None
    #: Where fetched charts are kept by digest (None: a folder per render, not kept).
    cache_dir: Path | None = None
    #: Values are not checked against the chart's schemas (which helm then never reads).
    skip_schema_validation: bool = False


def _values_arguments(
    root: Path, label: str, values_files: Sequence[str], fence: Path
) -> list[str]:
    argv: list[str] = []
    for values in values_files:
        resolved = (root / values).resolve()
        if not resolved.is_relative_to(fence) or not resolved.is_file():
            raise RenderError(f"{label}: values file {values!r} is not a file in the checkout")
        argv += ["-f", str(resolved)]
    return argv


def _split(text: str, label: str) -> list[Rendered]:
    """helm template's output, each document named by its ``# Source:``. Helm heads every
    template document with one, but copies a ``crds/`` file as it is, after one comment: a
    document after a ``---`` inside it (controller-gen's files begin with one) has none and
    belongs to the file before it, so it is a CRD of that file too."""
    out: list[Rendered] = []
    name, crd = f"helm template {label}", False
    for chunk in re.split(r"^---\s*$", text, flags=re.MULTILINE):
        if found := _SOURCE.search(chunk):
            name, crd = f"helm {found.group(1)}", bool(_CRD_SOURCE.match(found.group(1)))
        out.extend(Rendered(r.body, name, crd=crd) for r in parse_stream(chunk, name))
        if len(out) > limits.MAX_OBJECTS:
            raise RenderError(f"helm template {label}: more than {limits.MAX_OBJECTS} objects")
    return out


def served_by_crds(rendered: Sequence[Rendered]) -> list[str]:
    """``group/version`` and ``group/version/Kind`` of every version the chart's CRDs serve."""
    out: list[str] = []
    for item in rendered:
        body = item.body
        if not item.crd or body.get("kind") != "CustomResourceDefinition":
            continue
        spec: dict[str, Any] = body["spec"] if isinstance(body.get("spec"), dict) else {}
        group = str(spec.get("group") or "")
        kind = str((spec.get("names") or {}).get("kind") or "")
        for version in spec.get("versions") or []:
            if isinstance(version, dict) and version.get("served", True) and group:
                out += [f"{group}/{version.get('name')}", f"{group}/{version.get('name')}/{kind}"]
    return out


def _template(
    chart: str,
    cwd: Path,
    label: str,
    *,
    release: str,
    namespace: str,
    values: list[str],
    capabilities: Capabilities | None,
    api_versions: Sequence[str],
    skip_schema_validation: bool,
) -> list[Rendered]:
    argv = ["helm", "template", release, chart, "--namespace", namespace]
    argv += ["--skip-tests", "--include-crds"]
    if skip_schema_validation:
        argv += ["--skip-schema-validation"]
    argv += ["--kube-version", capabilities.kube_version if capabilities else HELM_KUBE_VERSION]
    if api_versions:
        argv += ["--api-versions", ",".join(api_versions)]
    return _split(tools.run_tool([*argv, *values], cwd, label), label)


def render_helm(
    root: Path,
    label: str,
    *,
    release: str,
    namespace: str,
    values_files: Sequence[str],
    boundary: Path,
    options: HelmOptions | None = None,
) -> list[Rendered]:
    """The chart in ``root`` (or ``options.chart``), with the app's release name,
    namespace and values files, as the target cluster's Helm would render it."""
    options = options or HelmOptions()
    fence = boundary.resolve()
    values = _values_arguments(root, label, values_files, fence)
    with tempfile.TemporaryDirectory(prefix="helm-chart-") as scratch:
        cache = options.cache_dir or Path(scratch, "cache")
        if options.chart is not None:
            chart = _remote_chart(options, cache, label)
        else:
            chart = str(
                prepare_chart(
                    root,
                    label,
                    boundary=boundary,
                    repositories=options.repositories,
                    cache=cache,
                    scratch=Path(scratch),
                )
            )
        # values.schema.json may name files or URLs; the archives' sizes are checked anyway
        check_chart(Path(chart), label, schemas=not options.skip_schema_validation)
        capabilities = options.capabilities
        known = list(capabilities.api_versions) if capabilities else []

        def once(api_versions: Sequence[str]) -> list[Rendered]:
            return _template(
                chart,
                root,
                label,
                release=release,
                namespace=namespace,
                values=values,
                capabilities=capabilities,
                api_versions=api_versions,
                skip_schema_validation=options.skip_schema_validation,
            )

        out = once(known)
        extra = [v for v in dict.fromkeys(served_by_crds(out)) if v not in set(known)]
        if extra:  # as helm install: the chart's CRDs exist before its templates render
            out = once([*known, *extra])
    return out


def _remote_chart(options: HelmOptions, cache: Path, label: str) -> str:
    source = options.chart
    assert source is not None
    repository = next((r for r in options.repositories if r.name == source.repo), None)
    if repository is None:
        raise RenderError(f"{label}: helm.chart.repo {source.repo!r} is not in helm_repositories")
    return str(fetch_chart(repository, source.name, source.version, cache))
