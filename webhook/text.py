"""Small text rules every layer shares, so each is written once.

Owns: cutting text to a bound (``cut``), and recognising a full commit id (``is_commit_sha``).
Must not touch: anything else; this module imports nothing of the project.
"""

from __future__ import annotations

import re

#: A full commit id as git prints it: SHA-1 (40 hex digits) or SHA-256 (64).
_COMMIT_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")


def cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, marked with an ellipsis when it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_commit_sha(value: object) -> bool:
    """Whether ``value`` is a full, lower-case commit id (never a branch, tag or short id)."""
    return isinstance(value, str) and _COMMIT_SHA.fullmatch(value) is not None
