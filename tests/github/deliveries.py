"""Sign and send deliveries exactly as GitHub does: raw body, HMAC-SHA256 header, GUID."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode


def github_signature(secret: bytes, body: bytes) -> str:
    """Written independently of ``webhook.signatures`` so a bug there cannot hide here."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@dataclass
class Delivery:
    event: str
    payload: Any
    secret: bytes
    delivery: str = field(default_factory=lambda: str(uuid.uuid4()))
    hook_id: str = "109948940"
    form: bool = False

    @property
    def body(self) -> bytes:
        text = json.dumps(self.payload)
        if self.form:
            return urlencode({"payload": text}).encode()
        return text.encode()

    def headers(self, body: bytes | None = None) -> dict[str, str]:
        body = self.body if body is None else body
        return {
            "Content-Type": (
                "application/x-www-form-urlencoded" if self.form else "application/json"
            ),
            "User-Agent": "GitHub-Hookshot/044aadd",
            "X-GitHub-Event": self.event,
            "X-GitHub-Delivery": self.delivery,
            "X-GitHub-Hook-ID": self.hook_id,
            "X-GitHub-Hook-Installation-Target-Type": "repository",
            "X-GitHub-Hook-Installation-Target-ID": "186853002",
            "X-Hub-Signature-256": github_signature(self.secret, body),
        }
