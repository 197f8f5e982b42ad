"""Small text rules every layer shares, so each is written once.

Owns: cutting text to a bound (``cut``), recognising a full commit id (``is_commit_sha``), and
making text someone else wrote safe for one line of a terminal (``one_line``).
Must not touch: anything else; this module imports nothing of the project.
"""

from __future__ import annotations

import re

#: A full commit id as git prints it: SHA-1 (40 hex digits) or SHA-256 (64).
_COMMIT_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")


#: Control characters (C0, DEL, C1) and Unicode's line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` for one line of a terminal: each control character (newline, carriage
    return, escape, bell...) written as its Python escape, so a message from a repository or
    a tool can neither break a table's row nor move the cursor, retitle the window or
    overwrite what was printed before it."""
    return _CONTROL.sub(lambda found: ascii(found.group())[1:-1], text)


def cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, marked with an ellipsis when it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_commit_sha(value: object) -> bool:
    """Whether ``value`` is a full, lower-case commit id (never a branch, tag or short id)."""
    return isinstance(value, str) and _COMMIT_SHA.fullmatch(value) is not None
