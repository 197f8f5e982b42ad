"""A chart repository's ``index.yaml``, kept between renders and asked again only if changed.

Owns: the on-disk copy of what an index says (per chart name: version -> digest and URL),
keyed by the repository's URL, with the validators its server gave (``ETag``,
``Last-Modified``), sent back as ``If-None-Match``/``If-Modified-Since``: a public
repository's index is tens of megabytes, which every render of one of its charts downloaded
and parsed again; an unchanged index is now a ``304`` and a JSON read. A copy that cannot be
read is ignored (the index is fetched whole again): it is a cache, never the authority.
Must not touch: the HTTP session (``chart_fetch`` passes a function), charts, rendering.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from webhook.render.output import RenderError

#: version -> (digest without ``sha256:`` or "", the first URL), per chart name.
Entries = dict[str, dict[str, tuple[str, str]]]
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Chart versions read from one index at most, each alias counted again: a public index lists
#: tens of thousands; a hostile one of aliases to one long list would list billions.
MAX_ENTRIES = 500_000


@dataclass(frozen=True)
class Answer:
    """What the server said: 200 with a body, or 304 (``body`` empty)."""

    status: int
    body: bytes
    headers: Mapping[str, str]


#: ``get(url, conditional headers)`` -> the answer (a 200 or a 304; anything else raises).
Getter = Callable[[str, dict[str, str]], Answer]


def entries(url: str, get: Getter, cache: Path, where: str, *, fresh: bool = False) -> Entries:
    """The index at ``url``: the kept copy if the server says it has not changed, else read
    (and kept) anew; ``fresh`` reads it anew whatever the kept copy says (a chart version
    the kept copy lacks: ``Last-Modified`` has one-second steps, so an index rewritten within
    the second it was read looks unchanged). ``where`` names the repository in errors."""
    kept_at = cache / "index" / f"{hashlib.sha256(url.encode()).hexdigest()[:32]}.json"
    kept = None if fresh else _read(kept_at, url)
    asked: dict[str, str] = {}
    if kept is not None:
        if kept.get("etag"):
            asked["If-None-Match"] = kept["etag"]
        if kept.get("modified"):
            asked["If-Modified-Since"] = kept["modified"]
    answer = get(url, asked)
    if answer.status == 304 and kept is not None:
        return kept["entries"]  # type: ignore[no-any-return]
    found = _parse(answer.body, where)
    _write(
        kept_at,
        {
            "url": url,
            "etag": answer.headers.get("ETag"),
            "modified": answer.headers.get("Last-Modified"),
            "entries": found,
        },
    )
    return found


def _parse(raw: bytes, where: str) -> Entries:
    try:
        # libyaml's safe loader: the pure-Python one read a 1.5 MB index in 11.1 s, not 1.7.
        index: Any = yaml.load(raw, Loader=_LOADER)
    except (yaml.YAMLError, ValueError, RecursionError):  # ValueError: a 5,000-digit number
        raise RenderError(f"{where}: index.yaml is not YAML it can read") from None
    charts = index.get("entries") if isinstance(index, dict) else None
    found: Entries = {}
    seen = 0
    for name, versions in (charts if isinstance(charts, dict) else {}).items():
        for entry in versions if isinstance(versions, list) else []:
            seen += 1
            if seen > MAX_ENTRIES:
                raise RenderError(f"{where}: index.yaml lists over {MAX_ENTRIES} chart versions")
            urls = entry.get("urls") if isinstance(entry, dict) else None
            if not isinstance(urls, list) or not urls:
                continue
            digest = str(entry.get("digest") or "").removeprefix("sha256:")
            found.setdefault(str(name), {}).setdefault(
                str(entry.get("version")), (digest, str(urls[0]))
            )
    return found


def _read(path: Path, url: str) -> dict[str, Any] | None:
    try:
        kept = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(kept, dict) or kept.get("url") != url:
        return None
    charts = kept.get("entries")
    if not isinstance(charts, dict):
        return None
    kept["entries"] = {
        name: {version: (str(pair[0]), str(pair[1])) for version, pair in versions.items()}
        for name, versions in charts.items()
        if isinstance(versions, dict)
        and all(isinstance(p, list) and len(p) == 2 for p in versions.values())
    }
    return kept


def _write(path: Path, kept: dict[str, Any]) -> None:
    """Replace the copy atomically; a failed write only costs the next render a download."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as tmp:
            json.dump(kept, tmp)
        os.replace(tmp.name, path)
    except OSError:
        pass
