"""Hostile deliveries the other receiver tests leave out, each signed (or not) like GitHub's
published examples: a compressed body, an old push replayed under a new delivery id, and
``/deploy`` commands hidden in a quote, a code block or a later line, and framing a proxy
could read otherwise (against a real ``webhook-deployer web``). All were safe when written;
these tests keep them so."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from tests.access import pr_comment
from tests.conftest import SECRET
from tests.github.deliveries import Delivery, github_signature
from tests.github.examples import branch_push
from tests.test_hostile_web import Web, raw_request
from webhook.queue import SqlStore

URL = "/webhooks/github"


def _jobs(store: SqlStore) -> list[tuple[str, str]]:
    return sorted(
        (job.app, job.commit)
        for app in ("guestbook", "redis", "docs")
        for job in store.jobs_for_app(app)
    )


def test_a_compressed_body_is_never_inflated(client: FlaskClient, store: SqlStore) -> None:
    """``Content-Encoding: gzip`` is not decoded (GitHub sends none): a signed gzip body
    is not JSON (400), so a small bomb never becomes a large payload."""
    body = gzip.compress(b'{"a": "' + b"x" * 10_000_000 + b'"}')
    headers = {**Delivery("push", {}, SECRET).headers(body), "Content-Encoding": "gzip"}
    answer = client.post(URL, data=body, headers=headers)
    assert answer.status_code == 400 and _jobs(store) == []


def test_an_old_push_replayed_under_a_new_delivery_id_deploys_nothing_again(
    client: FlaskClient, store: SqlStore
) -> None:
    """The signature covers the body, not ``X-GitHub-Delivery``: whoever holds an old
    signed body can send it again under a fresh id. One deployment per app and commit
    means the old commit is not queued again after a newer one."""
    old = branch_push()
    sent = Delivery("push", old, SECRET)
    assert client.post(URL, data=sent.body, headers=sent.headers()).status_code == 202
    newer = {**branch_push(), "before": old["after"], "after": "f" * 40}
    later = Delivery("push", newer, SECRET)
    assert client.post(URL, data=later.body, headers=later.headers()).status_code == 202
    before = _jobs(store)
    assert {commit for _, commit in before} == {old["after"], "f" * 40}
    replay = Delivery("push", old, SECRET, delivery="a-fresh-delivery-id")
    answer = client.post(URL, data=sent.body, headers=replay.headers(sent.body))
    assert answer.status_code == 202
    assert all(not job["created"] for job in answer.get_json()["jobs"])
    assert _jobs(store) == before


@pytest.mark.parametrize(
    "body",
    [
        "> /deploy approve guestbook",
        "```\n/deploy approve guestbook\n```",
        "Thanks! Once CI is green:\n/deploy approve guestbook",
        "`/deploy approve guestbook`",
        "<!-- /deploy approve guestbook -->",
    ],
    ids=["quoted-reply", "code-block", "later-line", "inline-code", "html-comment"],
)
def test_a_command_that_is_not_the_first_line_as_written_commands_nothing(
    client: FlaskClient, store: SqlStore, body: str
) -> None:
    """Someone quoting a maintainer's ``/deploy approve`` in a reply, or showing it in
    code, is not commanding: only a first line that is the command itself counts."""
    sent = Delivery("issue_comment", pr_comment(body), SECRET)
    answer = client.post(URL, data=sent.body, headers=sent.headers())
    assert answer.status_code == 202 and answer.get_json()["ignored"] == "not a /deploy command"
    assert _jobs(store) == []


def test_a_form_encoded_delivery_is_verified_over_its_raw_form_body(
    client: FlaskClient, store: SqlStore
) -> None:
    """A form body whose ``payload`` was swapped after signing is refused, and a second
    ``payload`` field (a parser that took the last one would read the attacker's) is a 400."""
    sent = Delivery("push", branch_push(), SECRET, form=True)
    forged: dict[str, Any] = {**branch_push(), "after": "e" * 40}
    doubled = sent.body + b"&payload=" + json.dumps(forged).encode()
    headers = {**sent.headers(doubled), "X-Hub-Signature-256": github_signature(SECRET, doubled)}
    assert client.post(URL, data=doubled, headers=headers).status_code == 400
    swapped = {**sent.headers(), "X-Hub-Signature-256": github_signature(b"other", sent.body)}
    assert client.post(URL, data=sent.body, headers=swapped).status_code == 401
    assert _jobs(store) == []


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    server = Web(tmp_path_factory.mktemp("web"))
    yield server
    server.close()


SMUGGLED = b"GET /api/apps HTTP/1.1\r\nHost: localhost\r\n\r\n"


@pytest.mark.parametrize(
    "head",
    [
        b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n" % len(b"0\r\n\r\n" + SMUGGLED),
        b"Content-Length: 5\r\nContent-Length: %d\r\n" % len(b"0\r\n\r\n" + SMUGGLED),
        b"Transfer-Encoding: chunked, identity\r\n",
    ],
    ids=["length-and-chunked", "two-lengths", "chunked-then-identity"],
)
def test_real_server_refuses_framing_a_proxy_could_read_otherwise(web: Web, head: bytes) -> None:
    """Behind an ingress that keeps connections open, a body whose end two parsers see in
    two places smuggles a request of its own (here ``GET /api/apps``, past the ingress):
    gunicorn refuses the framing at once and closes the connection, so nothing follows."""
    request = b"POST /webhooks/github HTTP/1.1\r\nHost: localhost\r\n" + head + b"\r\n"
    answer = raw_request(web.port, request + b"0\r\n\r\n" + SMUGGLED)
    assert answer.startswith(b"HTTP/1.1 400 ") and b"Connection: close" in answer
    assert answer.count(b"HTTP/1.1 ") == 1 and b'"apps"' not in answer


def test_a_strangers_headers_cannot_grow_the_log_lines_they_cause(web: Web) -> None:
    """Every request writes an access line and an unsigned delivery a warning: the headers
    they quote are anyone's (8 KB each within gunicorn's limits), so they are cut."""
    marker = "log-size-probe-"
    headers = {
        "Content-Type": "application/json",
        "User-Agent": marker + "u" * 8000,
        "X-GitHub-Delivery": marker + "d" * 8000,
        "X-GitHub-Event": "push",
    }
    answer = requests.post(f"{web.url}{URL}", data=b"{}", headers=headers, timeout=10)
    assert answer.status_code == 401
    deadline = time.monotonic() + 10
    while True:
        lines = [line for line in web.log_path.read_text().splitlines() if marker in line]
        if len(lines) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(lines) >= 2, lines  # the warning and the access line
    assert all(len(line) < 1000 for line in lines), [len(line) for line in lines]
