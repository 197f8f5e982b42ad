"""Tell a reference to something remote (git, http, ssh, ``github.com/...``) from a local path.

Kustomize and Helm fetch whatever such a reference names, from the deployer's network
position; the renderers refuse these before any tool runs unless the host is allowed.
The test is deliberately wider than what the tools would fetch: a false alarm is a clear
error, a miss is a request leaving the machine.
Must not touch: files (it reads strings only), tools.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
#: ``git@github.com:org/repo``, ``user@host:path`` (scp-like ssh), ``gh:org/repo``.
_SCP = re.compile(r"^(?:[^/@:\s]+@)?([^/@:\s]+):(?!//)")
_PREFIXES = ("git::", "gh:", "git@")
#: Hosts kustomize knows without a scheme (``github.com/org/repo//path?ref=v1``).
_HOST_SEGMENT = re.compile(r"^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?::\d+)?$")


def remote_host(reference: str, *, exists_as_file: bool = False) -> str | None:
    """The host a reference would be fetched from; ``""`` if remote with no usable host;
    None if it is a local path. ``exists_as_file``: kustomize reads an existing file first.
    """
    text = reference.strip()
    lowered = text.lower()
    if lowered.startswith("git::"):
        text, lowered = text[5:], lowered[5:]
    if lowered.startswith("gh:"):
        return "github.com"
    if _SCHEME.match(text):
        parts = urlsplit(text)
        return (parts.hostname or "").lower()
    scp = _SCP.match(text)
    if scp and "@" in text.split(":", 1)[0]:
        return scp.group(1).lower()
    if lowered.startswith(_PREFIXES) or "_git/" in lowered:
        return ""
    if exists_as_file:
        return None
    first = text.split("/", 1)[0]
    if _HOST_SEGMENT.match(first) and "/" in text:
        return first.rsplit(":", 1)[0].lower()
    if "?" in text or "//" in text:
        return ""
    return None


def describe(reference: str, host: str, allowed: tuple[str, ...]) -> str:
    """Why a remote reference is refused, for the render error."""
    if not host:
        return f"remote reference {reference!r} is not allowed (no host an app can allow)"
    hint = (
        f"allowed_remote_hosts is {list(allowed)}"
        if allowed
        else "the app allows no remote hosts (kustomize.allowed_remote_hosts)"
    )
    return f"remote reference {reference!r} (host {host}) is not allowed: {hint}"
