"""A chart repository's index.yaml is downloaded once and then only asked whether it changed:
Python's http.server (tests/helm_servers.py) answers ``If-Modified-Since`` with a 304, as
GitHub Pages, S3 or a chart museum answer it (or ``If-None-Match``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.helm_servers import chart_repo, helm, package, simple_chart
from webhook.app_options import HelmRepository
from webhook.render import RenderError
from webhook.render.chart_fetch import fetch_chart

pytestmark = pytest.mark.usefixtures("tools")
CHART_CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Chart.Name }}\n"


def index_answers(served_answers: list[tuple[str, int]]) -> list[int]:
    return [code for path, code in served_answers if path.endswith("/index.yaml")]


def test_an_unchanged_index_is_a_304_and_a_changed_one_is_read_again(tmp_path: Path) -> None:
    published = tmp_path / "published"
    package(simple_chart(tmp_path / "c1", "cache", "1.0.0", CHART_CM), published)
    cache = tmp_path / "cache"
    with chart_repo(published) as served:
        repository = HelmRepository(name="internal", url=served.url)
        first = fetch_chart(repository, "cache", "1.0.0", cache)
        again = fetch_chart(repository, "cache", "1.0.0", cache)
        assert first == again
        assert index_answers(served.answers) == [200, 304]
        assert [p for p in served.requests if p.endswith(".tgz")] == ["/charts/cache-1.0.0.tgz"]
        # A new version published: the index changes (a later mtime), so it is read again.
        package(simple_chart(tmp_path / "c2", "cache", "1.1.0", CHART_CM), published / "charts")
        helm("repo", "index", str(published / "charts"), "--url", served.url)
        later = time.time() + 10
        os.utime(published / "charts" / "index.yaml", (later, later))
        newer = fetch_chart(repository, "cache", "1.1.0", cache)
        assert newer != first and newer.is_file()
        assert index_answers(served.answers) == [200, 304, 200]
        # A version the kept copy lacks: asked (304), then read anew once before refusing.
        with pytest.raises(RenderError, match=r"cache 9\.9\.9 .* not in the repository.s index"):
            fetch_chart(repository, "cache", "9.9.9", cache)
        assert index_answers(served.answers) == [200, 304, 200, 304, 200]


def test_a_version_published_within_the_second_the_index_was_read_is_still_found(
    tmp_path: Path,
) -> None:
    """``Last-Modified`` counts whole seconds: an index rewritten in the second it was read
    answers 304 to the kept copy, which lacks the new version; it is read anew and found."""
    published = tmp_path / "published"
    package(simple_chart(tmp_path / "c1", "cache", "1.0.0", CHART_CM), published)
    cache = tmp_path / "cache"
    with chart_repo(published) as served:
        repository = HelmRepository(name="internal", url=served.url)
        index = published / "charts" / "index.yaml"
        fetch_chart(repository, "cache", "1.0.0", cache)
        first = index.stat().st_mtime
        package(simple_chart(tmp_path / "c2", "cache", "1.1.0", CHART_CM), published / "charts")
        helm("repo", "index", str(published / "charts"), "--url", served.url)
        os.utime(index, (first, first))  # rewritten "in the same second"
        assert fetch_chart(repository, "cache", "1.1.0", cache).is_file()
        assert index_answers(served.answers) == [200, 304, 200]


def test_a_kept_index_that_cannot_be_read_is_fetched_whole_again(tmp_path: Path) -> None:
    published = tmp_path / "published"
    package(simple_chart(tmp_path / "c1", "cache", "1.0.0", CHART_CM), published)
    cache = tmp_path / "cache"
    with chart_repo(published) as served:
        repository = HelmRepository(name="internal", url=served.url)
        fetch_chart(repository, "cache", "1.0.0", cache)
        (kept,) = (cache / "index").glob("*.json")
        kept.write_text("{not json")
        assert fetch_chart(repository, "cache", "1.0.0", cache).is_file()
        assert index_answers(served.answers) == [200, 200]  # asked without validators
