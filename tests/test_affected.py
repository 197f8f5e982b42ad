"""Which apps a change touches: folder, recorded inputs, ``paths:``; unknown inputs touch.

The rule (webhook/affected.py) over plain data, the store's ``app_inputs`` table on the real
SQLite store, and the receiver's index reading that table as it does in ``create_app``.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.github.examples import branch_push
from webhook.affected import Changes, RecordedInputs, inputs_key, touched, watches
from webhook.events import AppIndex, Ignored, decide
from webhook.queue import SqlStore
from webhook.settings import AppConfig, HelmConfig

REPO = "Codertocat/Hello-World"


def app(name: str, path: str, **more: object) -> AppConfig:
    return AppConfig(name=name, repo=REPO, branch="master", path=path, namespace="ns", **more)  # type: ignore[arg-type]


def known(config: AppConfig, *paths: str) -> RecordedInputs:
    return RecordedInputs(key=inputs_key(config), commit="c" * 40, paths=paths)


PRODUCTION = app("production", "apps/production")
STAGING = app("staging", "apps/staging")
OTHER = app("other", "apps/other")


def test_a_change_to_a_base_touches_every_app_whose_render_read_it() -> None:
    recorded = {
        "production": known(
            PRODUCTION, "apps/base/podinfo/", "apps/base/podinfo/kustomization.yaml"
        ),
        "staging": known(STAGING, "apps/base/podinfo/deployment.yaml"),
        "other": known(OTHER),
    }
    apps = [PRODUCTION, STAGING, OTHER]
    base_file = ["apps/base/podinfo/deployment.yaml"]
    assert touched(apps, recorded, base_file) == [PRODUCTION, STAGING]
    # A recorded folder covers everything under it; a recorded file only itself.
    assert touched(apps, recorded, ["apps/base/podinfo/hpa.yaml"]) == [PRODUCTION]
    assert touched(apps, recorded, ["apps/base/podinfo-old/x.yaml"]) == []
    assert touched(apps, recorded, ["apps/other/cm.yaml"]) == [OTHER]
    assert touched(apps, recorded, ["apps/otherwise/cm.yaml", "README.md"]) == []


def test_unknown_inputs_touch_the_app_whatever_changed() -> None:
    recorded = {"other": known(OTHER)}
    assert touched([PRODUCTION, OTHER], recorded, ["README.md"]) == [PRODUCTION]


def test_inputs_recorded_under_other_render_settings_count_as_unknown() -> None:
    before = known(PRODUCTION)
    moved = PRODUCTION.model_copy(update={"helm": HelmConfig(values_files=("../values.yaml",))})
    assert not watches(PRODUCTION, before, Changes(["values.yaml"]))
    assert watches(moved, before, Changes(["values.yaml"]))


def test_a_whole_tree_record_is_touched_by_any_change() -> None:
    assert watches(PRODUCTION, known(PRODUCTION, ""), Changes(["docs/a.md"]))


@pytest.mark.parametrize(
    ("entry", "changed", "hit"),
    [
        ("config/shared.env", "config/shared.env", True),
        ("config/shared.env", "config/shared.env.bak", False),
        ("config", "config/a/b.yaml", True),
        ("config/", "config/a/b.yaml", True),
        ("config/*.env", "config/prod.env", True),
        ("config/*.env", "config/sub/prod.env", False),
        ("config/**/*.env", "config/prod.env", True),
        ("config/**/*.env", "config/a/b/prod.env", True),
        ("**/values-prod.yaml", "charts/web/values-prod.yaml", True),
        ("config/prod-?.yaml", "config/prod-a.yaml", True),
        ("config/prod-?.yaml", "config/prod-ab.yaml", False),
        ("config/[ab].yaml", "config/b.yaml", True),
        ("config/[!ab].yaml", "config/b.yaml", False),
        ("config/v[0-9].yaml", "config/v7.yaml", True),
        ("config/v[0-9].yaml", "config/vx.yaml", False),
        ("shared/*", "shared/base/kustomization.yaml", True),
    ],
    ids=lambda value: str(value),
)
def test_paths_entries_are_files_folders_or_globs(entry: str, changed: str, hit: bool) -> None:
    config = app("web", "apps/web", paths=(entry,))
    assert watches(config, known(config), Changes([changed])) is hit


@pytest.mark.parametrize("entry", ["../elsewhere", "/etc", "a/../../b", " "])
def test_paths_that_leave_the_repository_are_refused(entry: str) -> None:
    with pytest.raises(ValidationError, match="must be a path or glob in the repo"):
        app("web", "apps/web", paths=(entry,))


def test_the_receivers_index_reads_the_store(store: SqlStore) -> None:
    index = AppIndex([PRODUCTION, STAGING, OTHER], inputs=store.recorded_inputs)
    push = branch_push()
    push["created"] = False
    push["commits"][0].update(added=[], modified=["apps/base/podinfo/cm.yaml"], removed=[])
    # Nothing recorded yet: every app of the branch is touched.
    decision = decide("push", push, index, "d1")
    assert isinstance(decision, list)
    assert [r.app for r in decision] == ["production", "staging", "other"]
    for config, paths in ((PRODUCTION, ("apps/base/podinfo/",)), (STAGING, ()), (OTHER, ())):
        store.record_inputs(config.name, known(config, *paths))
    decision = decide("push", push, index, "d2")
    assert isinstance(decision, list)
    assert [r.app for r in decision] == ["production"]
    push["commits"][0].update(modified=["docs/README.md"])
    assert isinstance(decide("push", push, index, "d3"), Ignored)
