"""kstatus rules per kind: one fixture file per state under fixtures/health/."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import accumulate
from pathlib import Path
from typing import Any

import pytest
import yaml

from webhook.kube.health import Health, Status, assess, wait_until_current
from webhook.objects import ObjectRef, ref_of

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "health").glob("*.yaml"))


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_fixture_gets_its_documented_state_and_message(path: Path) -> None:
    case = load(path)
    obj = case["object"]
    ref = ref_of(obj) if obj else ObjectRef(namespace=None, **case["ref"])
    verdict = assess(ref, obj)
    assert verdict == Health(Status(case["expect"]), case["message"])


def test_every_state_has_a_fixture() -> None:
    states = {load(p)["expect"] for p in FIXTURES}
    assert states == {s.value for s in Status}


def test_waiting_stops_when_everything_is_current() -> None:
    ref = ObjectRef("", "ConfigMap", "ns", "settings")
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}}
    sleeps: list[float] = []
    verdicts = wait_until_current([ref], lambda r: obj, timeout=10, sleep=sleeps.append)
    assert verdicts[ref].status is Status.CURRENT
    assert sleeps == []


def test_waiting_gives_up_at_the_timeout_with_the_last_verdict() -> None:
    ref = ObjectRef("apps", "Deployment", "ns", "web")
    obj = load(Path(__file__).parent / "fixtures/health/deployment-in-progress.yaml")["object"]
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    verdicts = wait_until_current(
        [ref], lambda r: obj, timeout=3, clock=lambda: now[0], sleep=sleep
    )
    assert verdicts[ref] == Health(Status.IN_PROGRESS, "Deployment web: 1/3 available")
    assert now[0] == pytest.approx(3.0)


def test_polls_stay_fast_for_five_seconds_then_back_off_to_two() -> None:
    ref = ObjectRef("apps", "Deployment", "ns", "web")
    obj = load(Path(__file__).parent / "fixtures/health/deployment-in-progress.yaml")["object"]
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    wait_until_current([ref], lambda r: obj, timeout=20, clock=lambda: now[0], sleep=sleep)
    assert sleeps[:3] == pytest.approx([0.1, 0.2, 0.25])
    fast = [s for s, t in zip(sleeps, accumulate(sleeps), strict=True) if t <= 5.0]
    assert max(fast) == 0.25
    assert sleeps[-2] == 2.0


def test_waiting_stops_early_on_a_failure() -> None:
    ref = ObjectRef("apps", "Deployment", "ns", "web")
    obj = load(Path(__file__).parent / "fixtures/health/deployment-failed.yaml")["object"]
    verdicts = wait_until_current([ref], lambda r: obj, timeout=300, sleep=lambda s: None)
    assert verdicts[ref].status is Status.FAILED


def _fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = load(Path(__file__).parent / f"fixtures/health/{name}.yaml")["object"]
    return loaded


def test_a_watch_sees_the_rollout_finish_without_polling() -> None:
    ref = ObjectRef("apps", "Deployment", "ns", "web")
    rolling, done = _fixture("deployment-in-progress"), _fixture("deployment-current")
    seen: list[tuple[ObjectRef, Any, float]] = []

    def watch(r: ObjectRef, last: Any, seconds: float) -> Iterator[Any]:
        seen.append((r, last, seconds))
        yield rolling
        yield done
        raise AssertionError("read past the Current state")

    sleeps: list[float] = []
    verdicts = wait_until_current(
        [ref], lambda r: rolling, timeout=30, watch=watch, sleep=sleeps.append
    )
    assert verdicts[ref].status is Status.CURRENT
    assert sleeps == [] and seen[0][1] is rolling and seen[0][2] <= 30


def test_an_object_the_watch_could_not_follow_is_polled() -> None:
    ref = ObjectRef("apps", "Deployment", "ns", "web")
    states = iter([_fixture("deployment-in-progress")] * 2 + [_fixture("deployment-current")])

    def broken_watch(r: ObjectRef, last: Any, seconds: float) -> Iterator[Any]:
        return iter(())

    sleeps: list[float] = []
    verdicts = wait_until_current(
        [ref], lambda r: next(states), timeout=30, watch=broken_watch, sleep=sleeps.append
    )
    assert verdicts[ref].status is Status.CURRENT and len(sleeps) == 1


def test_a_failure_seen_by_the_watch_ends_the_wait() -> None:
    web = ObjectRef("apps", "Deployment", "ns", "web")
    other = ObjectRef("", "ConfigMap", "ns", "settings")
    failed = _fixture("deployment-failed")

    def watch(r: ObjectRef, last: Any, seconds: float) -> Iterator[Any]:
        yield failed

    objects = {
        web: _fixture("deployment-in-progress"),
        other: {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s"}},
    }
    verdicts = wait_until_current([web, other], objects.__getitem__, timeout=30, watch=watch)
    assert verdicts[web].status is Status.FAILED
    assert verdicts[other].status is Status.CURRENT


def test_an_object_known_in_progress_is_watched_from_that_state_without_a_read() -> None:
    """The apply's answer is where the watch starts (its resourceVersion): reading the
    object again first would cost a GET per Deployment of every sync."""
    ref = ObjectRef("apps", "Deployment", "ns", "web")
    rolling, done = _fixture("deployment-in-progress"), _fixture("deployment-current")
    reads: list[ObjectRef] = []
    starts: list[Any] = []

    def fetch(r: ObjectRef) -> Any:
        reads.append(r)
        return rolling

    def watch(r: ObjectRef, last: Any, seconds: float) -> Iterator[Any]:
        starts.append(last)
        yield done

    verdicts = wait_until_current(
        [ref], fetch, timeout=30, watch=watch, known={ref: rolling}, sleep=lambda s: None
    )
    assert verdicts[ref].status is Status.CURRENT
    assert reads == [] and starts == [rolling]
