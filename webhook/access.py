"""Who may do what: API tokens (named, hashed, scoped), permission levels, and their cache.

Owns: the ``DEPLOYER_API_TOKENS`` format (``name:scope:sha256hex`` entries) and the
constant-time match of a presented token against every entry; the ``Level`` a GitHub
repository permission grants (read sees an app, write approves it); ``PermissionCache``,
which asks GitHub at most once per (repository, user) for ``ttl`` seconds.
Must not touch: Flask, the queue, GitHub itself (the cache is handed the call to make).
Only hashes are ever kept: a token's text is never stored, logged or compared as text.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal

from cachetools import TTLCache

Scope = Literal["read", "approve"]
SCOPES: tuple[Scope, ...] = ("read", "approve")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_HEX = re.compile(r"^[0-9a-f]{64}$")
#: Seconds a (repository, user) permission answer is trusted: a write access removed on
#: GitHub stops approvals within this, while a page view costs no call in between.
DEFAULT_PERMISSION_TTL = 60.0


class Level(IntEnum):
    """What a GitHub repository permission lets a person do with that repository's apps."""

    NONE = 0
    READ = 1
    WRITE = 2

    @classmethod
    def of(cls, permission: str | None) -> Level:
        """GitHub's collaborator ``permission`` (admin, write, read, none; maintain and
        triage are reported as write and read) as a level; anything unknown is NONE."""
        return {"admin": cls.WRITE, "maintain": cls.WRITE, "write": cls.WRITE}.get(
            permission or "", cls.READ if permission in ("read", "triage") else cls.NONE
        )


def token_hash(token: str) -> str:
    """The hex SHA-256 of a token's UTF-8 text: what ``DEPLOYER_API_TOKENS`` holds."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True)
class ApiToken:
    """One automation token: its name (shown in the audit trail), scope and hash."""

    name: str
    scope: Scope
    sha256: str = field(repr=False)

    @property
    def can_approve(self) -> bool:
        return self.scope == "approve"


def parse_tokens(raw: str, source: str = "DEPLOYER_API_TOKENS") -> tuple[list[ApiToken], list[str]]:
    """Entries separated by commas, spaces or newlines; the tokens and one error per bad entry
    (an error never quotes the entry: it may be a pasted secret)."""
    tokens: list[ApiToken] = []
    errors: list[str] = []
    names: set[str] = set()
    for number, entry in enumerate(re.split(r"[\s,]+", raw.strip()) if raw.strip() else [], 1):
        name, _, rest = entry.partition(":")
        scope, _, digest = rest.partition(":")
        digest = digest.lower()
        if not _NAME.match(name) or scope not in SCOPES or not _HEX.match(digest):
            errors.append(
                f"{source}: entry {number} is not 'name:read|approve:<sha256 hex of the token>'"
            )
            continue
        if name in names:
            errors.append(f"{source}: token name {name!r} is used twice")
            continue
        names.add(name)
        tokens.append(
            ApiToken(name=name, scope="approve" if scope == "approve" else "read", sha256=digest)
        )
    return tokens, errors


def match_token(tokens: tuple[ApiToken, ...], presented: str) -> ApiToken | None:
    """The entry whose hash is the presented token's, compared in constant time against every
    entry (so timing tells neither which entry nor how much of a hash matched)."""
    digest = token_hash(presented).encode()
    found: ApiToken | None = None
    for token in tokens:
        if hmac.compare_digest(digest, token.sha256.encode()) and found is None:
            found = token
    return found


class PermissionCache:
    """``level(repo, login)``, asking ``lookup`` once per pair per ``ttl`` seconds.

    ``lookup`` raises when GitHub cannot answer; nothing is cached then, and the caller
    refuses (an unknown permission is never taken for one).
    """

    def __init__(
        self,
        lookup: Callable[[str, str], Level],
        *,
        ttl: float = DEFAULT_PERMISSION_TTL,
        timer: Callable[[], float] | None = None,
    ) -> None:
        self._lookup = lookup
        self._cache: TTLCache[tuple[str, str], Level] = (
            TTLCache(maxsize=4096, ttl=ttl, timer=timer)
            if timer is not None
            else TTLCache(maxsize=4096, ttl=ttl)
        )
        self._lock = threading.Lock()

    def level(self, repo: str, login: str) -> Level:
        key = (repo.lower(), login.lower())
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        found = self._lookup(repo, login)
        with self._lock:
            self._cache[key] = found
        return found
