"""The ``POST /webhooks/github`` blueprint: verify, parse, dedupe, enqueue, answer.

It never calls git, Kubernetes or GitHub: a delivery costs one signature check, one JSON
parse and one store transaction, so GitHub gets its answer in milliseconds. The job is
committed before the 2xx leaves, so an accepted delivery survives any crash after it.

Everything before the signature check is hostile: the body is read to at most the limit
plus one byte however it is framed (``Content-Length`` or chunked), and a signed body that
cannot be parsed (bad JSON, nesting deep enough to exhaust the parser) is a 400, never a 500.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import parse_qs

from flask import Blueprint, Response, jsonify, request
from werkzeug.wsgi import get_input_stream

from webhook import signatures, telemetry
from webhook.errors import Unavailable
from webhook.events import Ignored, Pong, decide
from webhook.queue import DeliveryKey
from webhook.text import cut
from webhook.web.context import deployer

log = logging.getLogger(__name__)
bp = Blueprint("receiver", __name__)


#: Before the signature is checked the event header is the sender's word: counted as this,
#: so a stranger cannot mint label values (each one a new time series).
UNVERIFIED = "unverified"
_EVENT_NAME = re.compile(r"[a-z_]{1,40}")
#: How much of an unsigned request's ``X-GitHub-Delivery`` a log line keeps.
UNVERIFIED_ID_CHARS = 64


def _refuse(status: int, error: str, outcome: str, event: str = UNVERIFIED) -> tuple[Response, int]:
    _count(event, outcome)
    return jsonify({"error": error}), status


def _store_down(exc: Exception, known: dict[str, str]) -> tuple[Response, int]:
    """The store could not be read or written: 503 with ``Retry-After``, nothing stored."""
    delivery, event = known["delivery"], known["event"]
    log.error("delivery %s (%s): store unavailable: %s", delivery, event, exc, extra=known)
    response, status = _refuse(503, "store unavailable; redeliver later", "unavailable", event)
    response.headers["Retry-After"] = "30"
    return response, status


def _count(event: str, outcome: str) -> None:
    """One delivery answered; ``event`` only from a signed delivery (GitHub's event names)."""
    label = event if _EVENT_NAME.fullmatch(event) else "other"
    telemetry.DELIVERIES.labels(event=label, outcome=outcome).inc()


class BadFraming(Exception):
    """The body could not be read as framed (a malformed chunk size, a cut connection)."""


def _body(limit: int) -> bytes | None:
    """The request body, or None when it is over ``limit``; never reads more than limit+1
    bytes. A body without a length is read only from a server that frames it (chunked
    transfer-encoding decoded by gunicorn or werkzeug), else it counts as empty."""
    length = request.content_length
    if length is not None and length > limit:
        return None
    if length is not None:
        stream = get_input_stream(request.environ, max_content_length=None)
    elif request.environ.get("wsgi.input_terminated"):
        stream = request.environ["wsgi.input"]
    else:
        return b""
    chunks: list[bytes] = []
    read = 0
    while read <= limit:
        try:
            chunk = stream.read(min(64 * 1024, limit + 1 - read))
        except Exception as exc:  # the server's own framing errors (gunicorn: InvalidChunkSize)
            raise BadFraming(f"body framing is invalid: {type(exc).__name__}") from exc
        if not chunk:
            break
        chunks.append(chunk)
        read += len(chunk)
    return None if read > limit else b"".join(chunks)


def _payload(body: bytes, content_type: str) -> Any:
    """The event JSON from either content type GitHub lets a hook owner choose."""
    if content_type == "application/x-www-form-urlencoded":
        fields = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=16)
        values = fields.get("payload")
        if not values or len(values) != 1:
            raise ValueError("form body has no single 'payload' field")
        return json.loads(values[0])
    return json.loads(body)


@bp.post("/webhooks/github")
def receive() -> tuple[Response, int]:
    env = deployer().env
    try:
        body = _body(env.max_body_bytes)
    except BadFraming as exc:
        return _refuse(400, str(exc), "bad_request")
    if body is None:
        return _refuse(413, f"body over {env.max_body_bytes} bytes", "too_large")

    signature = request.headers.get("X-Hub-Signature-256")
    signed_with = signatures.match(env.webhook_secrets, body, signature)
    if signed_with is None:
        reason = "missing X-Hub-Signature-256" if not signature else "signature does not match"
        # Anyone's header, logged once per request: bounded (GitHub's ids are 36 characters).
        unverified = cut(request.headers.get("X-GitHub-Delivery", "-"), UNVERIFIED_ID_CHARS)
        log.warning("refused delivery %s: %s", unverified, reason, extra={"delivery": unverified})
        return _refuse(401, reason, "signature_invalid")
    if signed_with == "previous":
        delivery = request.headers.get("X-GitHub-Delivery")
        log.warning(
            "delivery %s is signed with the previous webhook secret: set the current one "
            "on the hook before GITHUB_WEBHOOK_SECRET_PREVIOUS is removed",
            delivery,
            extra={"delivery": delivery},
        )

    event = request.headers.get("X-GitHub-Event", "").strip()
    delivery = request.headers.get("X-GitHub-Delivery", "").strip()
    if not event or not delivery:
        return _refuse(400, "missing X-GitHub-Event or X-GitHub-Delivery", "bad_request", event)
    content_type = (request.mimetype or "application/json").lower()
    if content_type not in ("application/json", "application/x-www-form-urlencoded"):
        return _refuse(
            415, f"unsupported content type {content_type}", "unsupported_media_type", event
        )
    try:
        payload = _payload(body, content_type)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        return _refuse(400, f"body is not a JSON event: {type(exc).__name__}", "bad_request", event)
    if not isinstance(payload, dict):
        return _refuse(400, "event payload must be a JSON object", "bad_request", event)

    known = {"delivery": delivery, "event": event}
    log.debug(
        "delivery %s (%s): %d bytes, signature verified", delivery, event, len(body), extra=known
    )
    try:
        decision = decide(event, payload, deployer().index, delivery)
    except ValueError as exc:
        return _refuse(400, str(exc), "bad_request", event)
    except Unavailable as exc:  # a push's apps are chosen with their inputs read from the store
        return _store_down(exc, known)
    if isinstance(decision, Pong):
        _count(event, "pong")
        return jsonify({"pong": True}), 200
    if isinstance(decision, Ignored):
        _count(event, "ignored")
        log.info("delivery %s (%s) ignored: %s", delivery, event, decision.reason, extra=known)
        return jsonify({"ignored": decision.reason}), 202

    hook_id = request.headers.get("X-GitHub-Hook-ID", "").strip() or "-"
    key = DeliveryKey(hook_id=hook_id, delivery=delivery, signed_with=signed_with)
    try:
        result = deployer().store.enqueue(decision, delivery=key)
    except Exception as exc:  # down, full, locked: the transaction left nothing behind
        return _store_down(exc, known)
    if result.duplicate:
        _count(event, "duplicate")
        log.info("delivery %s (%s) already accepted", delivery, event, extra=known)
        return jsonify({"duplicate": True, "delivery": delivery, "jobs": []}), 200
    jobs = [
        {"id": e.job.id, "app": e.job.app, "commit": e.job.commit, "created": e.created}
        for e in result.jobs
    ]
    _count(event, "accepted")
    log.info("delivery %s (%s): %s", delivery, event, jobs, extra={**known, "jobs": jobs})
    return jsonify({"delivery": delivery, "jobs": jobs}), 202
