"""An app's ``directory:`` options as Argo CD reads ``spec.source.directory`` (argoproj/argo-cd,
Apache-2.0: ``reposerver/repository`` ``getPotentiallyValidManifests``; the fixtures here are
written anew): ``recurse`` off reads only the app folder; ``include`` and ``exclude`` are
gobwas globs over each file's path relative to the app folder, with no separators (``*``
crosses ``/``) and ``{a,b}`` alternatives; an exclude wins. Real files, the real renderer
(kustomize for the subfolder with a kustomization), the real config loader; the recorded
inputs and the receiver's rule (``webhook.affected``) follow the same options.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from kubernetes.dynamic import DynamicClient

from tests.gitops import GitOps, cm, dump, live
from webhook.affected import Changes, RecordedInputs, inputs_key, watches
from webhook.render import DirectoryFilter, inputs_of, render
from webhook.settings import AppConfig, ConfigError, DirectoryConfig, load_config

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"
#: An app folder in a repository: top files, a plain subfolder, a kustomization subfolder.
TREE = {
    "apps/web/a.yaml": CM.format(name="a"),
    "apps/web/b.yaml": CM.format(name="b"),
    "apps/web/c.yml": CM.format(name="c"),
    "apps/web/d.json": '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"}}',
    "apps/web/sub/e.yaml": CM.format(name="e"),
    "apps/web/sub/deep/f.yaml": CM.format(name="f"),
    "apps/web/built/kustomization.yaml": "resources: [g.yaml]\n",
    "apps/web/built/g.yaml": CM.format(name="g"),
}
ALL = ["a", "b", "c", "d", "e", "f", "g"]

pytestmark = pytest.mark.usefixtures("tools")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for rel, text in TREE.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def names(repo: Path, **options: object) -> list[str]:
    directory = DirectoryFilter(**options)  # type: ignore[arg-type]
    objects = render(
        repo / "apps/web",
        "apps/web",
        release="web",
        namespace="ns",
        checkout_root=repo,
        directory=directory,
    )
    return sorted(o.body["metadata"]["name"] for o in objects)


def test_by_default_every_file_and_subfolder_is_read_as_before(repo: Path) -> None:
    assert names(repo) == ALL


def test_recurse_off_reads_only_the_app_folder(repo: Path) -> None:
    assert names(repo, recurse=False) == ["a", "b", "c", "d"]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"include": "*.yaml"}, ["a", "b", "e", "f", "g"]),  # '*' crosses '/', as in Argo CD
        ({"include": "*.yaml", "recurse": False}, ["a", "b"]),
        ({"include": "{a.yaml,c.yml}"}, ["a", "c"]),
        ({"include": "sub/*"}, ["e", "f"]),
        ({"include": "sub/[!d]*.yaml"}, ["e"]),
        ({"include": "built/*"}, ["g"]),  # a kustomization folder counts as its kustomization
        ({"exclude": "*.yaml"}, ["c", "d"]),
        ({"exclude": "{b.yaml,sub/deep/*}"}, ["a", "c", "d", "e", "g"]),
        ({"exclude": "built/kustomization.yaml"}, ["a", "b", "c", "d", "e", "f"]),
    ],
    ids=lambda value: repr(value) if isinstance(value, dict) else "",
)
def test_include_and_exclude_match_paths_relative_to_the_app_folder(
    repo: Path, options: dict[str, object], expected: list[str]
) -> None:
    assert names(repo, **options) == expected


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("sub?e.yaml", "sub/e.yaml", True),  # '?' crosses '/' too
        ("**.yaml", "sub/deep/f.yaml", True),
        ("[a-c].yaml", "b.yaml", True),
        ("[a-c].yaml", "d.yaml", False),
        ("\\*.yaml", "*.yaml", True),  # escaped: a literal '*'
        ("\\*.yaml", "a.yaml", False),
        ("{a,sub/{e,x}}.yaml", "sub/e.yaml", True),  # nested alternatives
        ("a,b}.yaml", "a,b}.yaml", True),  # ',' and '}' outside braces are plain
    ],
)
def test_glob_grammar_is_gobwas_without_separators(pattern: str, path: str, matches: bool) -> None:
    assert DirectoryFilter(include=pattern).selects(path) is matches


def test_an_exclude_wins_over_an_include(repo: Path) -> None:
    assert names(repo, include="*.yaml", exclude="{a.yaml,sub/*}") == ["b", "g"]


def test_a_folder_with_a_kustomization_ignores_the_options(repo: Path) -> None:
    (repo / "apps/web/kustomization.yaml").write_text("resources: [a.yaml, sub/e.yaml]\n")
    assert names(repo, recurse=False, exclude="a.yaml") == ["a", "e"]


def app(**directory: object) -> AppConfig:
    return AppConfig(
        name="web",
        repo="acme/gitops",
        path="apps/web",
        namespace="ns",
        directory=DirectoryConfig(**directory),  # type: ignore[arg-type]
    )


def recorded(repo: Path, config: AppConfig) -> RecordedInputs:
    """What the worker records after a render with ``config``'s options (engine.py)."""
    paths = inputs_of(
        repo / config.path, config.path, boundary=repo, directory=config.directory.filter
    )
    return RecordedInputs(key=inputs_key(config), commit="c" * 40, paths=paths)


@pytest.mark.parametrize(
    ("directory", "changed", "deploys"),
    [
        ({}, "apps/web/sub/e.yaml", True),
        ({}, "apps/web/notes.txt", True),  # unnarrowed: the whole folder, as before
        ({"recurse": False}, "apps/web/a.yaml", True),
        ({"recurse": False}, "apps/web/new.yaml", True),  # a new file the options select
        ({"recurse": False}, "apps/web/sub/e.yaml", False),
        ({"recurse": False}, "apps/web/built/g.yaml", False),
        ({"include": "a.yaml"}, "apps/web/kustomization.yaml", True),  # the folder: a build
        ({"include": "sub/e.yaml"}, "apps/web/sub/Kustomization", True),  # e: no longer read
        ({"recurse": False}, "apps/web/sub/kustomization.yaml", False),
        ({"exclude": "b.yaml"}, "apps/web/b.yaml", False),
        ({"exclude": "b.yaml"}, "apps/web/a.yaml", True),
        ({"include": "{a.yaml,b.yaml}"}, "apps/web/c.yml", False),
        ({"include": "{a.yaml,b.yaml}"}, "apps/web/b.yaml", True),
        ({"include": "sub/*", "exclude": "sub/deep/*"}, "apps/web/sub/deep/f.yaml", False),
        ({"include": "sub/*", "exclude": "sub/deep/*"}, "apps/web/sub/e.yaml", True),
        ({"include": "built/*"}, "apps/web/built/g.yaml", True),  # the kustomization names it
        ({"include": "built/*"}, "apps/web/built/other.yaml", True),  # the options select it
    ],
)
def test_the_inputs_recorded_follow_the_same_options(
    repo: Path, directory: dict[str, object], changed: str, deploys: bool
) -> None:
    config = app(**directory)
    assert watches(config, recorded(repo, config), Changes([changed])) is deploys


def test_a_kustomization_folders_options_record_the_whole_folder(repo: Path) -> None:
    (repo / "apps/web/kustomization.yaml").write_text("resources: [a.yaml]\n")
    config = app(recurse=False, exclude="b.yaml")
    inputs = recorded(repo, config)
    assert "apps/web/" in inputs.paths
    assert watches(config, inputs, Changes(["apps/web/b.yaml"]))


def test_links_of_excluded_files_are_no_inputs(repo: Path) -> None:
    (repo / "shared").mkdir()
    (repo / "shared/kept.yaml").write_text(CM.format(name="kept"))
    (repo / "shared/left.yaml").write_text(CM.format(name="left"))
    (repo / "apps/web/kept.yaml").symlink_to("../../shared/kept.yaml")
    (repo / "apps/web/left.yaml").symlink_to("../../shared/left.yaml")
    config = app(exclude="left.yaml")
    inputs = recorded(repo, config)
    assert "shared/kept.yaml" in inputs.paths
    assert "shared/left.yaml" not in inputs.paths
    assert not watches(config, inputs, Changes(["shared/left.yaml"]))


def test_changing_the_options_makes_recorded_inputs_unknown(repo: Path) -> None:
    before = app(exclude="b.yaml")
    after = app(exclude="c.yml")
    assert inputs_key(before) != inputs_key(after)
    assert watches(after, recorded(repo, before), Changes(["apps/web/c.yml"]))


def test_default_options_keep_the_keys_recorded_before_them() -> None:
    """Upgrading does not turn every app's recorded inputs unknown: the key is the digest
    the release before ``directory:`` computed."""
    config = app()
    parts = ("acme/gitops", "main", "apps/web", repr(config.helm), repr(config.kustomize))
    before = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
    assert inputs_key(config) == before


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("apps/[a-z0-9]*", r"glob 'apps/\[a-z0-9\]\*' has '\[a-z0-9\]': a bracket holds one"),
        ("{a.yaml,b.yaml", r"glob '\{a.yaml,b.yaml' has a '\{' without its '\}'"),
        ("sub/[ab", r"glob 'sub/\[ab' has a '\[' without its '\]'"),
        ("[z-a].yaml", r"has '\[z-a\]': a bracket holds one range"),
        ("a[].yaml", r"has an empty '\[\]'"),
    ],
)
def test_a_malformed_pattern_fails_the_config(tmp_path: Path, pattern: str, message: str) -> None:
    path = tmp_path / "deployer.yaml"
    path.write_text(
        "apps:\n  - name: web\n    repo: acme/gitops\n    path: apps/web\n    namespace: ns\n"
        f"    directory: {{recurse: false, exclude: {pattern!r}}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert any("app 'web', key directory.exclude:" in line for line in caught.value.errors)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_a_good_pattern_loads(tmp_path: Path) -> None:
    path = tmp_path / "deployer.yaml"
    path.write_text(
        "apps:\n  - name: web\n    repo: acme/gitops\n    path: apps/web\n    namespace: ns\n"
        "    directory: {recurse: false, include: '{a.yaml,b.yaml}', exclude: '[!a]*'}\n"
    )
    (app_config,) = load_config(path).apps
    assert app_config.directory == DirectoryConfig(
        recurse=False, include="{a.yaml,b.yaml}", exclude="[!a]*"
    )


@pytest.mark.usefixtures("no_stray_kubeconfig")
def test_a_sync_applies_only_what_the_options_select(gitops: GitOps, dyn: DynamicClient) -> None:
    """Through the engine (its settings reach the render and the inputs) to the API server."""
    (gitops.origin / "apps/shop").mkdir(parents=True)
    (gitops.origin / "apps/shop/template.yaml").symlink_to("../../shared/linked.yaml")
    sha = gitops.commit(
        {
            "apps/shop/kept.yaml": dump(cm("kept")),
            "apps/shop/sub/nested.yaml": dump(cm("nested")),
            "shared/linked.yaml": dump(cm("linked")),
        }
    )
    result = gitops.sync(sha, directory=DirectoryConfig(recurse=False, exclude="template.yaml"))
    assert result.ok, result.error
    assert result.created == (f"ConfigMap {gitops.namespace}/kept",)
    assert live(dyn, "ConfigMap", "kept", gitops.namespace)
    assert "shared/linked.yaml" not in (result.inputs or ())
