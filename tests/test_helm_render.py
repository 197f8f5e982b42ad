"""Helm as Helm users expect: tests skipped, crds/ marked, capabilities, dependencies from
charts/, file:// and allow-listed repositories (a chart repository and an OCI registry on
loopback), a chart from a registry with values from git, and clear refusals."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helm_servers import chart_repo, helm, oci_registry, package, simple_chart, token_front
from webhook import render
from webhook.app_options import ChartSource, HelmRepository
from webhook.render import Capabilities, HelmOptions, RenderError

pytestmark = pytest.mark.usefixtures("tools")
PLATFORM = Path(__file__).parent / "fixtures" / "helm" / "platform"
CLUSTER = Capabilities("v1.34.4", ("v1", "apps/v1", "apps/v1/Deployment", "autoscaling/v2"))
CM = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-{{ .Chart.Name }}\n"
    "data:\n  colour: {{ .Values.colour }}\n  version: {{ .Chart.Version | quote }}\n"
)


def _render(root: Path, options: HelmOptions | None = None, **kw: object) -> list[render.Rendered]:
    return render.render(
        root,
        "apps/shop",
        release="store",
        namespace="ns",
        helm=options,
        **kw,  # type: ignore[arg-type]
    )


def _by_kind(out: list[render.Rendered]) -> dict[str, list[render.Rendered]]:
    found: dict[str, list[render.Rendered]] = {}
    for item in out:
        found.setdefault(str(item.body["kind"]), []).append(item)
    return found


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo" / "apps" / "shop"
    shutil.copytree(PLATFORM, root)
    return root


def test_test_hooks_are_left_out_and_other_hooks_stay_annotated(tmp_path: Path) -> None:
    kinds = _by_kind(_render(_copy(tmp_path), HelmOptions(capabilities=CLUSTER)))
    assert "Pod" not in kinds  # templates/tests/test-connection.yaml: helm.sh/hook: test
    (job,) = kinds["Job"]
    assert job.body["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"


def test_crds_come_from_the_crds_folder_untemplated_and_marked(tmp_path: Path) -> None:
    out = _render(_copy(tmp_path), HelmOptions(capabilities=CLUSTER))
    crds = [r for r in out if r.crd]
    assert [r.body["metadata"]["name"] for r in crds] == ["widgets.platform.example.com"]
    assert crds[0].source == "helm platform/crds/widgets.yaml"
    assert not any(r.crd for r in out if r.body["kind"] != "CustomResourceDefinition")


def test_capabilities_are_the_clusters_plus_the_charts_own_crds(tmp_path: Path) -> None:
    kinds = _by_kind(_render(_copy(tmp_path), HelmOptions(capabilities=CLUSTER)))
    seen = next(r.body["data"] for r in kinds["ConfigMap"] if "capabilities" in r.source)
    assert seen == {
        "kubeVersion": "v1.34.4",
        "hasDeployments": "true",
        "hasWidgets": "true",  # served by crds/widgets.yaml, as after helm install's CRD step
        "hasServiceMonitors": "false",
        "hasNothing": "false",
    }
    assert kinds["HorizontalPodAutoscaler"][0].body["apiVersion"] == "autoscaling/v2"
    assert "Widget" in kinds


def test_a_cluster_serving_more_apis_and_another_version_is_seen(tmp_path: Path) -> None:
    served = (*CLUSTER.api_versions, "monitoring.coreos.com/v1/ServiceMonitor")
    other = Capabilities("v1.29.7", served)
    kinds = _by_kind(_render(_copy(tmp_path), HelmOptions(capabilities=other)))
    seen = next(r.body["data"] for r in kinds["ConfigMap"] if "capabilities" in r.source)
    assert seen["kubeVersion"] == "v1.29.7" and seen["hasServiceMonitors"] == "true"


def test_a_cluster_older_than_the_chart_allows_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match=r"kubeVersion"):
        _render(_copy(tmp_path), HelmOptions(capabilities=Capabilities("v1.25.0", ())))


def test_a_file_dependency_elsewhere_in_the_tree_is_used(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    checkout = tmp_path / "repo"
    shutil.move(root / "deps" / "common", checkout / "libs-common")
    for name in ("Chart.yaml", "Chart.lock"):
        text = (root / name).read_text().replace("file://deps/common", "file://../../libs-common")
        (root / name).write_text(text)
    out = render.render(
        root, "apps/shop", release="s", namespace="n", checkout_root=checkout, helm=None
    )
    deployment = next(r for r in out if r.body["kind"] == "Deployment")
    assert deployment.body["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    assert not (root / "charts" / "common").exists()  # the checkout is never written


def test_a_vendored_subchart_with_a_file_dependency_leaves_the_checkout_unwritten(
    tmp_path: Path,
) -> None:
    root = _copy(tmp_path)
    cache = root / "charts" / "cache"
    (cache / "Chart.yaml").write_text(
        (cache / "Chart.yaml").read_text() + "dependencies:\n  - name: common\n    version: 0.1.0\n"
        "    repository: file://../../deps/common\n"
    )
    (cache / "templates" / "labelled.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: labelled\n  labels:\n"
        '    {{- include "common.managedBy" . | nindent 4 }}\n'
    )
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    out = _render(root, HelmOptions(capabilities=CLUSTER))
    labelled = next(r for r in out if r.body["metadata"]["name"] == "labelled")
    assert labelled.body["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "Helm"}
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_a_file_dependency_on_itself_is_refused(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    text = (root / "Chart.yaml").read_text().replace("file://deps/common", "file://.")
    (root / "Chart.yaml").write_text(text)
    with pytest.raises(RenderError, match=r"dependency 'common': 'file://.' depends on itself"):
        _render(root)


def test_a_file_dependency_outside_the_tree_is_refused(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    outside = tmp_path / "elsewhere"
    shutil.copytree(root / "deps" / "common", outside)
    text = (root / "Chart.yaml").read_text().replace("file://deps/common", f"file://{outside}")
    (root / "Chart.yaml").write_text(text)
    with pytest.raises(RenderError, match=r"dependency 'common'.*leaves the checkout"):
        _render(root)


def test_a_dependency_name_that_is_a_path_is_refused(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    text = (root / "Chart.yaml").read_text().replace("name: common", "name: ../../../../x")
    (root / "Chart.yaml").write_text(text)
    with pytest.raises(RenderError, match=r"dependency '../../../../x': not a chart name"):
        _render(root)
    assert not (tmp_path / "x").exists()


def test_a_vendored_chart_other_than_chart_lock_pins_is_refused(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    lock = (root / "Chart.lock").read_text().replace("version: 1.2.0", "version: 1.3.0")
    (root / "Chart.lock").write_text(lock)
    with pytest.raises(RenderError, match=r"charts/ holds version 1.2.0 but Chart.lock pins"):
        _render(root)


def test_a_repository_not_on_the_allow_list_is_refused(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    shutil.rmtree(root / "charts" / "cache")
    allowed = HelmRepository(name="internal", url="https://charts.internal.example")
    with pytest.raises(RenderError) as caught:
        _render(root, HelmOptions(repositories=(allowed,)))
    message = str(caught.value)
    assert "dependency 'cache' from https://charts.example.com/stable" in message
    assert "not in helm_repositories" in message


def _app_with_remote_dependency(tmp_path: Path, url: str, version: str = "1.4.0") -> Path:
    root = tmp_path / "app"
    simple_chart(root, "shop", "0.1.0", CM)
    (root / "Chart.yaml").write_text(
        "apiVersion: v2\nname: shop\nversion: 0.1.0\ndependencies:\n"
        f"  - name: cache\n    version: '~1.4'\n    repository: '{url}'\n"
    )
    (root / "Chart.lock").write_text(
        f"dependencies:\n- name: cache\n  repository: '{url}'\n  version: {version}\n"
    )
    return root


def test_a_dependency_comes_from_an_allowed_repository_once_per_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    published = tmp_path / "published"
    for version in ("1.4.0", "1.5.0"):
        chart = simple_chart(tmp_path / f"cache-{version}", "cache", version, CM)
        package(chart, published)
    monkeypatch.setenv("CHARTS_USER", "deployer")
    monkeypatch.setenv("CHARTS_PASSWORD", "s3cret-pa55")
    with chart_repo(published, ("deployer", "s3cret-pa55")) as served:
        repository = HelmRepository(
            name="internal",
            url=served.url,
            username_env="CHARTS_USER",
            password_env="CHARTS_PASSWORD",
        )
        root = _app_with_remote_dependency(tmp_path, served.url)
        options = HelmOptions(repositories=(repository,), cache_dir=tmp_path / "cache")
        first = _render(root, options)
        again = _render(root, options)
    versions = {r.body["metadata"]["name"]: r.body["data"]["version"] for r in first}
    assert versions == {"store-cache": "1.4.0", "store-shop": "0.1.0"}  # Chart.lock's pin
    assert [r.body for r in first] == [r.body for r in again]
    downloads = [p for p in served.requests if p.endswith(".tgz")]
    assert downloads == ["/charts/cache-1.4.0.tgz"]  # the second render used the cache
    assert list((tmp_path / "cache").glob("sha256-*.tgz"))
    assert not (root / "charts").exists()


def test_repository_credentials_never_appear_in_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    published = tmp_path / "published"
    package(simple_chart(tmp_path / "cache", "cache", "1.4.0", CM), published)
    monkeypatch.setenv("CHARTS_USER", "deployer")
    monkeypatch.setenv("CHARTS_PASSWORD", "wrong-pa55word")
    with chart_repo(published, ("deployer", "right-pa55word")) as served:
        repository = HelmRepository(
            name="internal", url=served.url, username_env="CHARTS_USER",
            password_env="CHARTS_PASSWORD",
        )  # fmt: skip
        root = _app_with_remote_dependency(tmp_path, served.url)
        with pytest.raises(RenderError) as caught:
            _render(root, HelmOptions(repositories=(repository,)))
    assert "HTTP 401" in str(caught.value)
    assert "pa55word" not in str(caught.value) and "deployer" not in str(caught.value)
    assert served.auth_headers[0] is not None  # the credentials were sent, to that host


def test_credentials_go_only_to_the_repositorys_own_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    package(simple_chart(tmp_path / "cache", "cache", "1.4.0", CM), elsewhere)
    index = tmp_path / "index"
    monkeypatch.setenv("CHARTS_USER", "deployer")
    monkeypatch.setenv("CHARTS_PASSWORD", "s3cret-pa55")
    with (
        chart_repo(elsewhere) as other,
        chart_repo(index, ("deployer", "s3cret-pa55")) as served,
    ):
        # The repository's index sends the download to another host.
        text = (elsewhere / "charts" / "index.yaml").read_text()
        (index / "charts" / "index.yaml").write_text(text)
        repository = HelmRepository(
            name="internal", url=served.url, username_env="CHARTS_USER",
            password_env="CHARTS_PASSWORD",
        )  # fmt: skip
        root = _app_with_remote_dependency(tmp_path, served.url)
        out = _render(root, HelmOptions(repositories=(repository,)))
    assert {r.body["metadata"]["name"] for r in out} == {"store-cache", "store-shop"}
    assert other.requests == ["/charts/cache-1.4.0.tgz"]
    assert other.auth_headers == [None]


def test_a_dependency_may_name_its_repository_by_its_configured_name(tmp_path: Path) -> None:
    published = tmp_path / "published"
    package(simple_chart(tmp_path / "cache", "cache", "1.4.0", CM), published)
    with chart_repo(published) as served:
        repository = HelmRepository(name="internal", url=served.url)
        root = _app_with_remote_dependency(tmp_path, "@internal")
        out = _render(root, HelmOptions(repositories=(repository,)))
    assert {r.body["metadata"]["name"] for r in out} == {"store-cache", "store-shop"}


def test_a_range_without_chart_lock_is_refused(tmp_path: Path) -> None:
    root = _app_with_remote_dependency(tmp_path, "https://charts.internal.example")
    (root / "Chart.lock").unlink()
    allowed = HelmRepository(name="internal", url="https://charts.internal.example")
    with pytest.raises(RenderError, match=r"version '~1.4' is a range and no Chart.lock pins"):
        _render(root, HelmOptions(repositories=(allowed,)))


def test_a_chart_from_an_oci_registry_with_values_from_git(tmp_path: Path) -> None:
    chart = simple_chart(tmp_path / "shop-chart", "shop", "0.3.0", CM)
    tgz = package(chart, tmp_path / "packages")
    values = tmp_path / "repo" / "apps" / "shop"
    values.mkdir(parents=True)
    (values / "production.yaml").write_text("colour: green\n")
    with oci_registry() as host:
        helm("push", str(tgz), f"oci://{host}/charts", "--plain-http")
        registry = HelmRepository(name="acr", url=f"oci://{host}/charts", plain_http=True)
        options = HelmOptions(
            repositories=(registry,),
            chart=ChartSource(repo="acr", name="shop", version="0.3.0"),
            cache_dir=tmp_path / "cache",
        )
        out = render.render(
            values, "apps/shop", release="store", namespace="ns",
            values_files=["production.yaml"], helm=options,
        )  # fmt: skip
        (item,) = out
        assert item.body["data"] == {"colour": "green", "version": "0.3.0"}
        missing = HelmOptions(
            repositories=(registry,),
            chart=ChartSource(repo="acr", name="shop", version="9.9.9"),
        )
        with pytest.raises(RenderError, match=r"'acr'.*shop/manifests/9.9.9\): HTTP 404"):
            _render(values, missing)


def test_a_registry_behind_a_token_service_is_pulled_with_its_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tgz = package(simple_chart(tmp_path / "chart", "shop", "0.3.0", CM), tmp_path / "packages")
    monkeypatch.setenv("ACR_USER", "00000000-0000-0000-0000-000000000000")
    monkeypatch.setenv("ACR_TOKEN", "acr-pa55word")
    with (
        oci_registry() as host,
        token_front(host, ("00000000-0000-0000-0000-000000000000", "acr-pa55word")) as front,
    ):
        helm("push", str(tgz), f"oci://{host}/charts", "--plain-http")
        registry = HelmRepository(
            name="acr",
            url=f"oci://{front.url.removeprefix('http://')}/charts",
            username_env="ACR_USER",
            password_env="ACR_TOKEN",
            plain_http=True,
        )
        options = HelmOptions(
            repositories=(registry,), chart=ChartSource(repo="acr", name="shop", version="0.3.0")
        )
        (item,) = _render(tmp_path, options)
        assert item.body["data"]["colour"] == "blue"
        monkeypatch.setenv("ACR_TOKEN", "wrong-pa55word")
        with pytest.raises(RenderError) as caught:
            _render(tmp_path, options)
    assert "token: HTTP 401" in str(caught.value) and "pa55word" not in str(caught.value)
    assert front.token_requests[0] is not None and front.token_requests[0].startswith("Basic ")
    assert any((a or "").startswith("Bearer ") for a in front.registry_auth)  # the token
