"""The chart as operators run it: the Ingress routes GitHub's deliveries only, unless
``ingress.exposeUi`` asks for the page, the API and the metrics too; logs in the format
``logFormat`` names. Rendered with the real helm; every scenario under ``ci/``
(``ingress`` and ``ingress-ui`` included) is also dry-run on the API server by
tests/test_chart.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_chart import only, render, render_error, scenario

# Every test here runs helm from the test tools.
pytestmark = pytest.mark.usefixtures("tools")


def routes(*sets: str, name: str = "ingress") -> list[tuple[str, str]]:
    ingress = only(render(scenario(name), *sets), "Ingress")
    [rule] = ingress["spec"]["rules"]
    assert rule["host"] == "deployer.example.com"
    paths: list[dict[str, Any]] = rule["http"]["paths"]
    for path in paths:  # every route goes to the deployer's one Service
        assert path["backend"]["service"]["port"] == {"name": "http"}
    return [(p["path"], p["pathType"]) for p in paths]


def test_the_ingress_routes_only_the_webhook_by_default() -> None:
    assert routes() == [("/webhooks/github", "Exact")]


@pytest.mark.parametrize(
    ("name", "sets"), [("ingress", ("ingress.exposeUi=true",)), ("ingress-ui", ())]
)
def test_expose_ui_routes_the_page_api_and_metrics_too(name: str, sets: tuple[str, ...]) -> None:
    assert routes(*sets, name=name) == [("/", "Prefix")]


@pytest.mark.parametrize(("sets", "expected"), [((), "json"), (("logFormat=text",), "text")])
def test_log_format_reaches_the_container(sets: tuple[str, ...], expected: str) -> None:
    deployment = only(render(scenario("default"), *sets), "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert {"name": "DEPLOYER_LOG_FORMAT", "value": expected} in container["env"]


def test_an_unknown_log_format_is_refused_by_the_schema() -> None:
    assert "logFormat" in render_error(scenario("default"), "logFormat=xml")
