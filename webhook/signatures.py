"""Verify that a delivery came from GitHub: HMAC-SHA256 of the raw body, keyed by the secret.

Only ``X-Hub-Signature-256`` is accepted; the legacy SHA-1 header alone is refused. During a
secret rotation two secrets are accepted (``match``): each is compared in constant time, and
all of them always, so the answer's timing tells nothing about which one matched.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence

_SIGNATURE = re.compile(r"^sha256=([0-9a-f]{64})$")


def sign(secret: bytes, body: bytes) -> str:
    """The header value GitHub would send for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, header: str | None) -> bool:
    """True when ``header`` is a well-formed SHA-256 signature of ``body`` under ``secret``.

    The comparison is constant-time so the digest cannot be guessed byte by byte.
    """
    return match([("secret", secret)], body, header) is not None


def match(secrets: Sequence[tuple[str, bytes]], body: bytes, header: str | None) -> str | None:
    """The name of the first of ``secrets`` (name, secret) under which ``header`` signs
    ``body``, or None. Empty secrets never match."""
    found = _SIGNATURE.match(header.strip().lower()) if header else None
    if found is None:
        return None
    matched: str | None = None
    for name, secret in secrets:
        expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, found.group(1)) and secret and matched is None:
            matched = name
    return matched
