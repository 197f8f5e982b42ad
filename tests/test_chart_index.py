"""A chart repository's index.yaml is downloaded once and then only asked whether it changed:
Python's http.server (tests/helm_servers.py) answers ``If-Modified-Since`` with a 304, as
GitHub Pages, S3 or a chart museum answer it (or ``If-None-Match``)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helm_servers import ChartRepo, chart_repo, helm, package, simple_chart
from webhook.app_options import HelmRepository
from webhook.render import RenderError
from webhook.render.chart_fetch import fetch_chart

pytestmark = pytest.mark.usefixtures("tools")
CHART_CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Chart.Name }}\n"


@dataclass
class Charts:
    """A served chart repository holding chart ``cache`` 1.0.0, and the deployer's cache."""

    tmp: Path
    served: ChartRepo
    cache: Path

    @property
    def index(self) -> Path:
        return self.served.folder / "charts" / "index.yaml"

    def fetch(self, version: str) -> Path:
        repository = HelmRepository(name="internal", url=self.served.url)
        return fetch_chart(repository, "cache", version, self.cache)

    def publish(self, version: str) -> None:
        """Package chart ``cache`` at ``version`` and index the repository again."""
        chart = simple_chart(self.tmp / f"chart-{version}", "cache", version, CHART_CM)
        package(chart, self.index.parent)
        helm("repo", "index", str(self.index.parent), "--url", self.served.url)

    def index_answers(self) -> list[int]:
        return [code for path, code in self.served.answers if path.endswith("/index.yaml")]


@pytest.fixture
def charts(tmp_path: Path) -> Iterator[Charts]:
    published = tmp_path / "published"
    package(simple_chart(tmp_path / "chart-1.0.0", "cache", "1.0.0", CHART_CM), published)
    with chart_repo(published) as served:
        yield Charts(tmp_path, served, tmp_path / "cache")


def test_an_unchanged_index_is_a_304_and_a_changed_one_is_read_again(charts: Charts) -> None:
    first = charts.fetch("1.0.0")
    assert charts.fetch("1.0.0") == first
    assert charts.index_answers() == [200, 304]
    assert [p for p in charts.served.requests if p.endswith(".tgz")] == ["/charts/cache-1.0.0.tgz"]
    # A new version published: the index changes (a later mtime), so it is read again.
    charts.publish("1.1.0")
    later = time.time() + 10
    os.utime(charts.index, (later, later))
    newer = charts.fetch("1.1.0")
    assert newer != first and newer.is_file()
    assert charts.index_answers() == [200, 304, 200]
    # A version the kept copy lacks: asked (304), then read anew once before refusing.
    with pytest.raises(RenderError, match=r"cache 9\.9\.9 .* not in the repository.s index"):
        charts.fetch("9.9.9")
    assert charts.index_answers() == [200, 304, 200, 304, 200]


def test_a_version_published_within_the_second_the_index_was_read_is_still_found(
    charts: Charts,
) -> None:
    """``Last-Modified`` counts whole seconds: an index rewritten in the second it was read
    answers 304 to the kept copy, which lacks the new version; it is read anew and found."""
    charts.fetch("1.0.0")
    first = charts.index.stat().st_mtime
    charts.publish("1.1.0")
    os.utime(charts.index, (first, first))  # rewritten "in the same second"
    assert charts.fetch("1.1.0").is_file()
    assert charts.index_answers() == [200, 304, 200]


def test_a_kept_index_that_cannot_be_read_is_fetched_whole_again(charts: Charts) -> None:
    charts.fetch("1.0.0")
    (kept,) = (charts.cache / "index").glob("*.json")
    kept.write_text("{not json")
    assert charts.fetch("1.0.0").is_file()
    assert charts.index_answers() == [200, 200]  # asked without validators


def test_a_hostile_index_of_aliases_is_refused_by_name_not_expanded(charts: Charts) -> None:
    """A few kilobytes naming one long list under thousands of chart names would be billions
    of versions once each alias is read: the read stops at the bound, with the reason."""
    versions = "".join(f"    - {{version: 1.{i}.0, urls: [c.tgz]}}\n" for i in range(1000))
    names = "".join(f"  c{i}: *all\n" for i in range(1000))
    charts.index.write_text(f"apiVersion: v1\nentries:\n  c: &all\n{versions}{names}")
    with pytest.raises(RenderError, match=r"index\.yaml lists over 500000 chart versions"):
        charts.fetch("1.0.0")
    assert not (charts.cache / "index").exists()  # nothing kept


def test_an_index_that_is_not_yaml_is_a_clear_error(charts: Charts) -> None:
    charts.index.write_text("entries: [" + "[" * 5000 + "\n")
    with pytest.raises(RenderError, match=r"index\.yaml is not YAML it can read"):
        charts.fetch("1.0.0")
