"""Fetch one chart version from an allow-listed repository: a Helm chart repository
(``index.yaml`` over http(s)) or an OCI registry, into a cache keyed by the chart's digest.

Owns: the HTTP requests (index, manifest, blob, token), the digest check and the cache
(the index itself is kept and revalidated by ``chart_index``).
Credentials come from the environment variables the repository entry names, are sent only
to the repository's own host, and never appear in an error: messages name the repository,
the chart and the HTTP status. Must not touch: which repositories are allowed (the caller
passes only configured ones), rendering, git, the cluster.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import yaml

from webhook.app_options import HelmRepository
from webhook.render import chart_index
from webhook.render.output import RenderError

#: A packaged chart larger than this is refused (real charts are well under 1 MiB).
MAX_CHART_BYTES = 16 * 1024 * 1024
#: A repository's index.yaml may be large (public repositories keep every version).
MAX_INDEX_BYTES = 64 * 1024 * 1024
#: Seconds per request.
TIMEOUT = 30.0
HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
_MANIFEST_TYPES = "application/vnd.oci.image.manifest.v1+json"
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")


class _Session:
    """Requests to one repository, with its credentials for its own host only."""

    def __init__(self, repository: HelmRepository) -> None:
        self.repository = repository
        self.host = urlsplit(repository.url).netloc
        self.auth = _credentials(repository)
        self.http = requests.Session()
        self.http.trust_env = False  # no proxies or .netrc from the deployer's environment
        self.bearer: str | None = None

    def get(self, url: str, limit: int, headers: dict[str, str] | None = None) -> bytes:
        answer = self.answer(url, limit, headers)
        if answer.status != 200:
            raise RenderError(f"{self._where(url)}: HTTP {answer.status}")
        return answer.body

    def answer(
        self, url: str, limit: int, headers: dict[str, str] | None = None
    ) -> chart_index.Answer:
        """A 200 with its body (at most ``limit`` bytes), or a 304 to a conditional request;
        any other status is an error naming the repository, never its credentials."""
        own = urlsplit(url).netloc == self.host
        sent = dict(headers or {})
        if own and self.bearer:
            sent["Authorization"] = f"Bearer {self.bearer}"
        auth = self.auth if own and not self.bearer else None
        try:
            answer = self.http.get(url, headers=sent, auth=auth, timeout=TIMEOUT, stream=True)
            if answer.status_code == 401 and own and self.bearer is None:
                challenge = answer.headers.get("WWW-Authenticate", "")
                answer.close()
                if challenge.lower().startswith("bearer "):
                    self.bearer = self._token(challenge)
                    return self.answer(url, limit, headers)
            with answer:
                if answer.status_code == 304 and headers:
                    return chart_index.Answer(304, b"", dict(answer.headers))
                if answer.status_code != 200:
                    raise RenderError(f"{self._where(url)}: HTTP {answer.status_code}")
                body = _read_capped(answer, limit, self._where(url))
                return chart_index.Answer(200, body, dict(answer.headers))
        except requests.RequestException as exc:
            raise RenderError(f"{self._where(url)}: {type(exc).__name__}") from None

    def _token(self, challenge: str) -> str:
        """The registry token service's answer (OCI distribution's bearer flow)."""
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm", "")
        if not realm.startswith(("https://", "http://")):
            raise RenderError(f"{self._where('')}: the registry's token realm is not a URL")
        try:
            answer = self.http.get(realm, params=params, auth=self.auth, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise RenderError(f"{self._where('')}: token: {type(exc).__name__}") from None
        with answer:
            if answer.status_code != 200:
                raise RenderError(f"{self._where('')}: token: HTTP {answer.status_code}")
            try:
                data = answer.json()
            except ValueError:
                raise RenderError(f"{self._where('')}: token: the answer is not JSON") from None
        token = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise RenderError(f"{self._where('')}: the registry gave no token")
        return token

    def _where(self, url: str) -> str:
        path = urlsplit(url).path if url else ""
        return f"helm repository {self.repository.name!r} ({self.host}{path})"


def _credentials(repository: HelmRepository) -> tuple[str, str] | None:
    names = (repository.username_env, repository.password_env)
    if not any(names):
        return None
    values = []
    for name in names:
        value = os.environ.get(name or "")
        if name and not value:
            raise RenderError(
                f"helm repository {repository.name!r}: environment variable {name} is not set"
            )
        values.append(value or "")
    return values[0], values[1]


def _read_capped(answer: requests.Response, limit: int, where: str) -> bytes:
    chunks, size = [], 0
    for chunk in answer.iter_content(65536):
        size += len(chunk)
        if size > limit:
            raise RenderError(f"{where}: larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _cached(cache: Path, digest: str) -> Path:
    return cache / f"sha256-{digest}.tgz"


def _store(cache: Path, data: bytes, expected: str | None, what: str) -> Path:
    """Write the chart under its sha256, after checking it against ``expected``."""
    digest = hashlib.sha256(data).hexdigest()
    if expected and digest != expected:
        raise RenderError(f"{what}: digest sha256:{digest} is not the published {expected}")
    cache.mkdir(parents=True, exist_ok=True)
    path = _cached(cache, digest)
    with tempfile.NamedTemporaryFile(dir=cache, delete=False) as tmp:
        tmp.write(data)
    os.replace(tmp.name, path)
    return path


def _from_index(session: _Session, name: str, version: str, cache: Path) -> Path:
    base = session.repository.url + "/"

    def listed(*, fresh: bool) -> tuple[str, str] | None:
        index = chart_index.entries(
            urljoin(base, "index.yaml"),
            lambda url, asked: session.answer(url, MAX_INDEX_BYTES, asked),
            cache,
            session._where(base),
            fresh=fresh,
        )
        return index.get(name, {}).get(version)

    # A version the kept index lacks may be newer than the copy: read the index anew once.
    found = listed(fresh=False) or listed(fresh=True)
    what = f"chart {name} {version} from helm repository {session.repository.name!r}"
    if found is None:
        raise RenderError(f"{what}: not in the repository's index")
    digest, first_url = found[0] or None, found[1]
    if digest and _cached(cache, digest).is_file():
        return _cached(cache, digest)
    url = urljoin(base, first_url)
    if urlsplit(url).scheme not in ("http", "https"):
        raise RenderError(f"{what}: the index points at a non-HTTP URL")
    return _store(cache, session.get(url, MAX_CHART_BYTES), digest, what)


def _from_registry(session: _Session, name: str, version: str, cache: Path) -> Path:
    where = session.repository.url.removeprefix("oci://")
    host, _, prefix = where.partition("/")
    path = f"{prefix}/{name}".strip("/")
    scheme = "http" if session.repository.plain_http else "https"
    tag = version.replace("+", "_")  # OCI tags cannot hold '+' (Helm's convention)
    what = f"chart {name} {version} from registry {session.repository.name!r}"
    raw = session.get(
        f"{scheme}://{host}/v2/{path}/manifests/{tag}",
        MAX_CHART_BYTES,
        {"Accept": _MANIFEST_TYPES},
    )
    try:
        manifest: Any = yaml.safe_load(raw)
    except yaml.YAMLError:
        raise RenderError(f"{what}: the manifest is not JSON") from None
    layers = manifest.get("layers") if isinstance(manifest, dict) else None
    layer = next(
        (x for x in layers or [] if isinstance(x, dict) and x.get("mediaType") == HELM_LAYER),
        None,
    )
    match = _DIGEST.match(str((layer or {}).get("digest", "")))
    if match is None:
        raise RenderError(f"{what}: the artifact holds no Helm chart layer")
    digest = match.group(1)
    if _cached(cache, digest).is_file():
        return _cached(cache, digest)
    blob = session.get(f"{scheme}://{host}/v2/{path}/blobs/sha256:{digest}", MAX_CHART_BYTES)
    return _store(cache, blob, digest, what)


def fetch_chart(repository: HelmRepository, name: str, version: str, cache: Path) -> Path:
    """The packaged chart ``name`` at exactly ``version``: a .tgz in ``cache`` named by its
    sha256. A chart already cached under the digest the repository publishes is not
    downloaded again."""
    session = _Session(repository)
    try:
        if repository.is_oci:
            return _from_registry(session, name, version, cache)
        return _from_index(session, name, version, cache)
    finally:
        session.http.close()
