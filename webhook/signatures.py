"""Verify that a delivery came from GitHub: HMAC-SHA256 of the raw body, keyed by the secret.

Only ``X-Hub-Signature-256`` is accepted; the legacy SHA-1 header alone is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_SIGNATURE = re.compile(r"^sha256=([0-9a-f]{64})$")


def sign(secret: bytes, body: bytes) -> str:
    """The header value GitHub would send for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, header: str | None) -> bool:
    """True when ``header`` is a well-formed SHA-256 signature of ``body`` under ``secret``.

    The comparison is constant-time so the digest cannot be guessed byte by byte.
    """
    if not header or not secret:
        return False
    match = _SIGNATURE.match(header.strip().lower())
    if match is None:
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, match.group(1))
