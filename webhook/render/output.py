"""What rendering produces: plain-dict objects with their origin, and the render error.

Owns: ``Rendered`` and ``RenderError``; object identity lives in webhook/objects.py.
Must not touch: files or tools.
"""

from __future__ import annotations

from dataclasses import dataclass

from webhook.errors import Rejected
from webhook.objects import Manifest


class RenderError(Rejected):
    """The app's manifests cannot be rendered; the message names the file (and line)."""


@dataclass(frozen=True)
class Rendered:
    """One object and where it came from (``path:line`` or the tool's source comment)."""

    body: Manifest
    source: str
    #: From a Helm chart's ``crds/`` folder: applied in the CRD tier, never templated.
    crd: bool = False
