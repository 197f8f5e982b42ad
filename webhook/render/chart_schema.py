"""Refuse a chart whose ``values.schema.json`` would make helm read a file or fetch a URL.

Helm validates values against every chart's and subchart's ``values.schema.json``
(santhosh-tekuri/jsonschema) with loaders for ``file://``, ``http://`` and ``https://``, the
schema's own address being ``file:///values.schema.json``. So a ``$ref`` (``$dynamicRef``,
``$recursiveRef``, an unknown ``$schema``) that is not a fragment of the same document
makes ``helm template`` read a file of the deployer's disk (``etc/passwd`` is
``/etc/passwd``) or GET any address from the deployer's network position, cloud metadata
included, and put what it got into its error. Only fragments (``#/definitions/x``) and
JSON Schema's own meta-schemas (built into helm, never fetched) are allowed.
The check reads schemas in folders and in packaged subcharts (``charts/*.tgz``, nested),
within helm's own bounds for archives, and with a bound on all of a render's archives.
Must not touch: templating, git, the cluster.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO, Any

from webhook.render.output import RenderError

SCHEMA_FILE = "values.schema.json"
#: Keywords whose value names another document the validator would load.
REFERENCES = ("$ref", "$dynamicRef", "$recursiveRef", "$schema")
#: The meta-schemas the validator holds itself (never loaded from the network).
_META = re.compile(
    r"^https?://json-schema\.org/(schema|draft-0[467]/schema|"
    r"draft/(2019-09|2020-12)/(schema|meta/[a-z-]+))(#.*)?$"
)
#: Helm's own bounds on a packaged chart (MaxDecompressedChartSize, MaxDecompressedFileSize).
MAX_ARCHIVE_BYTES = 100 * 1024 * 1024
MAX_MEMBER_BYTES = 5 * 1024 * 1024
#: Packaged charts inside packaged charts, deeper than any real chart nests them.
MAX_NESTING = 10
#: All packaged charts of one render together: helm holds every one in memory at once, so
#: sixteen 4 MiB archives at helm's own bound each would be 1.6 GB.
MAX_TOTAL_ARCHIVE_BYTES = 200 * 1024 * 1024


class _Budget:
    """Decompressed bytes still allowed for the packaged charts of one render."""

    def __init__(self) -> None:
        self.left = MAX_TOTAL_ARCHIVE_BYTES

    def spend(self, size: int, name: str) -> None:
        self.left -= max(size, 0)
        if self.left < 0:
            raise RenderError(
                f"{name}: the chart's packaged subcharts decompress to more than "
                f"{MAX_TOTAL_ARCHIVE_BYTES} bytes together"
            )


def _allowed(reference: str) -> bool:
    return reference.startswith("#") or bool(_META.match(reference))


def check_schema(text: bytes, name: str) -> None:
    """RenderError if the schema ``text`` (shown as ``name``) refers outside itself."""
    try:  # Go's decoder takes invalid UTF-8 as U+FFFD, and nesting Python's recursion cannot
        data: Any = json.loads(text.decode("utf-8", errors="replace"))
    except ValueError:
        return  # helm refuses a schema that is not JSON before it loads anything
    except RecursionError:
        raise RenderError(f"{name}: nested too deeply to be checked") from None
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            for key, value in item.items():
                if key in REFERENCES and isinstance(value, str) and not _allowed(value):
                    raise RenderError(
                        f"{name}: `{key}` {value!r} is not allowed: helm would read it from "
                        "the deployer's disk or network; keep definitions in the schema "
                        "itself ('#/definitions/...'), or set the app's "
                        "helm.skip_schema_validation: true"
                    )
                stack.append(value)


def _read(stream: IO[bytes], size: int, name: str) -> bytes:
    if size > MAX_MEMBER_BYTES:
        raise RenderError(f"{name}: larger than {MAX_MEMBER_BYTES} bytes")
    return stream.read(size)


def check_archive(
    stream: IO[bytes],
    name: str,
    depth: int = 0,
    budget: _Budget | None = None,
    *,
    schemas: bool = True,
) -> None:
    """Every schema in a packaged chart (and the charts packaged in it; ``schemas=False``:
    only their sizes). ``stream`` must be seekable: tarfile's streaming mode misreads gzip
    headers with extra fields (helm's)."""
    if depth > MAX_NESTING:
        raise RenderError(f"{name}: charts packaged more than {MAX_NESTING} levels deep")
    total, budget = 0, budget or _Budget()
    try:
        with tarfile.open(fileobj=stream, mode="r:gz") as archive:
            for member in archive:
                total += max(member.size, 0)
                if total > MAX_ARCHIVE_BYTES:
                    raise RenderError(
                        f"{name}: decompresses to more than {MAX_ARCHIVE_BYTES} bytes"
                    )
                budget.spend(member.size, name)
                if not member.isfile():
                    continue
                path = PurePosixPath(member.name)
                shown = f"{name}:{member.name}"
                inner = archive.extractfile(member)
                if inner is None:
                    continue
                if path.name == SCHEMA_FILE and schemas:
                    check_schema(_read(inner, member.size, shown), shown)
                elif path.suffix == ".tgz" and path.parent.name == "charts":
                    data = _read(inner, member.size, shown)
                    check_archive(io.BytesIO(data), shown, depth + 1, budget, schemas=schemas)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise RenderError(f"{name}: not a packaged chart: {exc}") from exc


def check_chart(chart: Path, shown: str, *, schemas: bool = True) -> None:
    """Every schema helm would read for the chart ``chart`` (a folder or a ``.tgz``), and
    the sizes of its packaged subcharts (``schemas=False``: those only)."""
    budget = _Budget()
    if chart.is_file():
        with chart.open("rb") as stream:
            check_archive(stream, shown, budget=budget, schemas=schemas)
        return
    seen: set[str] = set()
    for folder, dirs, files in os.walk(chart, followlinks=True):  # helm follows links too
        real = os.path.realpath(folder)
        if real in seen:
            dirs.clear()
            continue
        seen.add(real)
        here = Path(folder)
        rel = here.relative_to(chart).as_posix()
        where = shown if rel == "." else f"{shown}/{rel}"
        for file in sorted(files):
            if file == SCHEMA_FILE and schemas:
                check_schema((here / file).read_bytes(), f"{where}/{file}")
            elif file.endswith(".tgz") and here.name == "charts" and (here / file).is_file():
                with (here / file).open("rb") as stream:
                    check_archive(stream, f"{where}/{file}", budget=budget, schemas=schemas)
