"""The Dockerfile, read as text: no container engine runs here, so what can be checked without
building is checked: the tool versions it pins are the test tooling's, it runs as a non-root
user matching the chart, and it starts ``webhook-deployer serve``."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def stages() -> list[list[tuple[str, str]]]:
    """The instructions of each build stage, in order (global ARGs are left out)."""
    found: list[list[tuple[str, str]]] = []
    for word, rest in instructions():
        if word == "FROM":
            found.append([])
        if found:
            found[-1].append((word, rest))
    return found


def args(stage: list[tuple[str, str]]) -> dict[str, str]:
    return dict(rest.split("=", 1) for word, rest in stage if word == "ARG" and "=" in rest)


def shell_pin(name: str) -> str:
    """``NAME=value`` as scripts/build-test-tools sets it."""
    match = re.search(rf"^{name}=(\S+)", (REPO / "scripts" / "build-test-tools").read_text(), re.M)
    assert match, f"scripts/build-test-tools sets no {name}"
    return match.group(1)


def go_mod_pin(tool: str, module: str) -> str:
    go_mod = (REPO / "tests" / "cluster" / "tools" / tool / "go.mod").read_text()
    match = re.search(rf"^\s*{re.escape(module)} (v\S+)", go_mod, re.M)
    assert match, f"{tool}/go.mod does not require {module}"
    return match.group(1)


@pytest.mark.parametrize(
    ("arg", "tool", "module"),
    [
        ("HELM_VERSION", "helm", "helm.sh/helm/v3"),
        ("KUSTOMIZE_VERSION", "kustomize", "sigs.k8s.io/kustomize/kustomize/v5"),
    ],
    ids=["helm", "kustomize"],
)
def test_image_pins_the_render_tools_at_the_versions_the_tests_use(
    arg: str, tool: str, module: str
) -> None:
    tools = stages()[0]
    assert args(tools)[arg] == shell_pin(arg) == go_mod_pin(tool, module)
    # Built by the same script, with the same flags, and checked against the pin.
    runs = " ".join(rest for word, rest in tools if word == "RUN")
    assert "scripts/build-test-tools --only helm,kustomize" in runs
    assert f'= "${arg}"' in runs


def test_image_pins_a_released_kubelogin_by_version_and_checksum() -> None:
    """v0.2.21 is on the Go module proxy (v0.2.22 the newest when pinned); its ``h1:`` hash is
    the checksum database's, checked before the build installs that exact module."""
    tools = stages()[0]
    assert re.fullmatch(r"v\d+\.\d+\.\d+", args(tools)["KUBELOGIN_VERSION"])
    assert re.fullmatch(r"h1:[A-Za-z0-9+/]{43}=", args(tools)["KUBELOGIN_SUM"])
    [run] = [rest for word, rest in tools if word == "RUN" and "kubelogin" in rest]
    module = "github.com/Azure/kubelogin@${KUBELOGIN_VERSION}"
    checked = run.index(f'go mod download -json "{module}"')
    assert '= "$KUBELOGIN_SUM"' in run
    installed = run.index("go install")
    assert checked < installed < run.index(f'"{module}"', installed)


def test_runtime_image_has_git_the_tools_and_the_postgres_driver() -> None:
    runtime = stages()[-1]
    assert runtime[0][1].startswith("python:${PYTHON_VERSION}-slim")
    assert args([w for w in instructions() if w[0] == "ARG"])["PYTHON_VERSION"] == "3.11"
    runs = " ".join(rest for word, rest in runtime if word == "RUN")
    assert "install -y --no-install-recommends git" in runs
    assert "pip install --no-cache-dir ." in runs
    copied = [shlex.split(rest) for word, rest in runtime if word == "COPY"]
    binaries = next(c for c in copied if c[0] == "--from=tools")
    assert {Path(p).name for p in binaries[1:-1]} == {"helm", "kustomize", "kubelogin"}


def test_runtime_image_runs_serve_as_the_charts_non_root_user() -> None:
    runtime = stages()[-1]
    [user] = [rest for word, rest in runtime if word == "USER"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0  # numeric, so runAsNonRoot can verify it
    values = yaml.safe_load((REPO / "charts" / "webhook-deployer" / "values.yaml").read_text())
    pod = values["podSecurityContext"]
    assert (int(uid), int(gid)) == (pod["runAsUser"], pod["runAsGroup"])
    entrypoint = [json.loads(rest) for word, rest in runtime if word == "ENTRYPOINT"]
    command = [json.loads(rest) for word, rest in runtime if word == "CMD"]
    assert entrypoint[-1] + command[-1] == ["webhook-deployer", "serve"]


def test_runtime_image_writes_only_to_its_volumes() -> None:
    runtime = stages()[-1]
    env = " ".join(rest for word, rest in runtime if word == "ENV")
    [volumes] = [json.loads(rest) for word, rest in runtime if word == "VOLUME"]
    for variable, path in (
        ("HOME", "/tmp"),
        ("DEPLOYER_CACHE_DIR", "/var/cache/webhook-deployer"),
        ("DEPLOYER_DATABASE_URL", "sqlite:////var/lib/webhook-deployer/deployer.db"),
    ):
        assert f"{variable}={path}" in env
        assert any(path.removeprefix("sqlite:///").startswith(v) for v in volumes), path


def test_dockerignore_sends_only_what_the_image_copies() -> None:
    text = (REPO / ".dockerignore").read_text().splitlines()
    lines = [line for line in text if line and not line.startswith("#")]
    assert lines[0] == "*"  # .git, .venv, caches and test data never reach the builder
    allowed = {line.removeprefix("!").rstrip("/") for line in lines if line.startswith("!")}
    sources = {
        src.rstrip("/")
        for word, rest in instructions()
        if word == "COPY" and not rest.startswith("--from")
        for src in shlex.split(rest)[:-1]
    }
    assert sources == allowed
