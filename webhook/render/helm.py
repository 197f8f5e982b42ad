"""``helm template`` of a chart folder, offline: vendored dependencies only.

A chart's ``Chart.yaml`` may name dependencies in remote repositories (http, oci); fetching
them is for an allow-listed later feature. Here every dependency must already be in the
chart's ``charts/`` folder (``helm dependency build`` before committing), ``file://`` ones
must stay in the checkout, and values files must be files in the app folder. Helm runs with
a clean environment (tools.py): no repositories, registries, plugins or kubeconfig.
Must not touch: git, the cluster.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from webhook.render import limits, tools
from webhook.render.documents import load_yaml_documents, parse_stream
from webhook.render.output import Rendered, RenderError

#: The Kubernetes version helm templates against (helm alone assumes v1.20).
HELM_KUBE_VERSION = "1.34"
#: Subcharts of subcharts read for the dependency check.
MAX_CHARTS = 200
_SOURCE = re.compile(r"^# Source: (.+)$", re.MULTILINE)


def _mapping(path: Path, name: str) -> dict[str, Any]:
    documents = load_yaml_documents(path.read_text(encoding="utf-8", errors="replace"), name)
    data = documents[0][0] if documents else None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RenderError(f"{name}: must be a mapping")
    return data


def _vendored(chart: Path, name: str) -> bool:
    """Whether ``charts/`` holds the dependency ``name`` (a folder or a packaged .tgz)."""
    charts = chart / "charts"
    if not charts.is_dir():
        return False
    for entry in charts.iterdir():
        if entry.is_file() and entry.name.startswith(f"{name}-") and entry.suffix == ".tgz":
            return True
        if (entry / "Chart.yaml").is_file():
            meta = _mapping(entry / "Chart.yaml", f"{entry.name}/Chart.yaml")
            if meta.get("name") == name:
                return True
    return False


def _dependencies(chart: Path, shown: str) -> list[Any]:
    meta = _mapping(chart / "Chart.yaml", f"{shown}/Chart.yaml")
    deps = meta.get("dependencies") or []
    if (chart / "requirements.yaml").is_file():  # apiVersion v1 charts
        deps += (
            _mapping(chart / "requirements.yaml", f"{shown}/requirements.yaml").get("dependencies")
            or []
        )
    if not isinstance(deps, list):
        raise RenderError(f"{shown}/Chart.yaml: `dependencies` must be a list")
    return deps


def check_chart(root: Path, label: str, *, boundary: Path) -> None:
    """Every dependency of the chart (and of its vendored subcharts) vendored or local."""
    top, fence = root.resolve(), boundary.resolve()
    pending, seen = [top], {top}
    while pending:
        chart = pending.pop()
        shown = label if chart == top else f"{label}/{chart.relative_to(top).as_posix()}"
        for dep in _dependencies(chart, shown):
            if not isinstance(dep, dict) or not isinstance(dep.get("name"), str):
                raise RenderError(f"{shown}/Chart.yaml: a dependency needs a `name`")
            name, repository = dep["name"], str(dep.get("repository") or "")
            where = f"{shown}/Chart.yaml: dependency {name!r}"
            if repository.startswith("file://"):
                target = (chart / repository.removeprefix("file://")).resolve()
                if not target.is_relative_to(fence):
                    raise RenderError(f"{where}: {repository!r} leaves the checkout")
            if not _vendored(chart, name):
                source = repository or "no repository"
                raise RenderError(
                    f"{where} from {source} is not vendored in charts/: the deployer fetches "
                    "no charts (run `helm dependency build` and commit charts/)"
                )
        for sub in sorted((chart / "charts").glob("*/Chart.yaml")):
            folder = sub.parent.resolve()
            if not folder.is_relative_to(fence):
                raise RenderError(f"{shown}/charts/{sub.parent.name}: leaves the checkout")
            if folder not in seen:
                if len(seen) >= MAX_CHARTS:
                    raise RenderError(f"{label}: more than {MAX_CHARTS} subcharts")
                seen.add(folder)
                pending.append(folder)


def render_helm(
    root: Path,
    label: str,
    *,
    release: str,
    namespace: str,
    values_files: Sequence[str],
    boundary: Path,
) -> list[Rendered]:
    """``helm template`` with the app's release name, namespace and values files."""
    check_chart(root, label, boundary=boundary)
    argv = ["helm", "template", release, ".", "--namespace", namespace]
    argv += ["--kube-version", HELM_KUBE_VERSION]
    for values in values_files:
        resolved = (root / values).resolve()
        if not resolved.is_relative_to(boundary.resolve()) or not resolved.is_file():
            raise RenderError(f"{label}: values file {values!r} is not a file in the checkout")
        argv += ["-f", str(resolved)]
    text = tools.run_tool(argv, root, label)
    out: list[Rendered] = []
    for chunk in re.split(r"^---\s*$", text, flags=re.MULTILINE):
        found = _SOURCE.search(chunk)
        name = f"helm {found.group(1)}" if found else f"helm template {label}"
        out.extend(Rendered(r.body, name) for r in parse_stream(chunk, name))
        if len(out) > limits.MAX_OBJECTS:
            raise RenderError(f"helm template {label}: more than {limits.MAX_OBJECTS} objects")
    return out
