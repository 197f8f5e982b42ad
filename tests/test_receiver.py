"""``POST /webhooks/github`` with GitHub's published payloads, signed as GitHub signs them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import SECRET
from tests.github.deliveries import Delivery, github_signature
from tests.github.examples import branch_push, example, merged_pull_request
from webhook.queue import SqlStore
from webhook.web.context import deployer

URL = "/webhooks/github"


def post(
    client: FlaskClient,
    delivery: Delivery,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
) -> Any:
    sent = delivery.headers(body)
    sent.update(headers or {})
    for name in drop:
        sent.pop(name)
    return client.post(URL, data=delivery.body if body is None else body, headers=sent)


def job_count(store: SqlStore) -> int:
    return sum(len(store.jobs_for_app(a)) for a in ("guestbook", "redis", "docs", "staging"))


def test_ping_answers_200(client: FlaskClient) -> None:
    response = post(client, Delivery("ping", example("ping"), SECRET))
    assert response.status_code == 200
    assert response.get_json() == {"pong": True}


@pytest.mark.parametrize("form", [False, True], ids=["json", "form-urlencoded"])
def test_push_to_tracked_branch_enqueues_jobs_and_answers_202(
    client: FlaskClient, store: SqlStore, form: bool
) -> None:
    payload = branch_push()
    response = post(client, Delivery("push", payload, SECRET, form=form))
    assert response.status_code == 202
    body = response.get_json()
    assert [(j["app"], j["commit"]) for j in body["jobs"]] == [
        (app, payload["after"]) for app in ("guestbook", "redis", "docs")
    ]
    assert job_count(store) == 3
    stored = store.get(body["jobs"][0]["id"])
    assert stored is not None and stored.delivery == body["delivery"]


def test_merged_pull_request_enqueues_the_merge_commit_with_pr_head(
    client: FlaskClient, store: SqlStore
) -> None:
    payload = merged_pull_request("d" * 40)
    payload["pull_request"]["base"]["ref"] = "master"
    response = post(client, Delivery("pull_request", payload, SECRET))
    assert response.status_code == 202
    job = store.get(response.get_json()["jobs"][0]["id"])
    assert job is not None and job.commit == "d" * 40
    assert job.pull_requests[0].number == payload["number"]
    assert job.pull_requests[0].head_sha == payload["pull_request"]["head"]["sha"]


def test_push_then_merge_of_same_commit_deploys_once(client: FlaskClient, store: SqlStore) -> None:
    push = branch_push()
    merge = merged_pull_request(push["after"])
    merge["pull_request"]["base"]["ref"] = "master"
    post(client, Delivery("push", push, SECRET))
    response = post(client, Delivery("pull_request", merge, SECRET))
    assert response.status_code == 202
    assert not any(j["created"] for j in response.get_json()["jobs"])
    assert job_count(store) == 3
    assert all(store.jobs_for_app(a)[0].pull_requests for a in ("guestbook", "redis", "docs"))


def test_redelivery_enqueues_nothing_new_and_says_so(client: FlaskClient, store: SqlStore) -> None:
    delivery = Delivery("push", branch_push(), SECRET)
    assert post(client, delivery).status_code == 202
    again = post(client, delivery)
    assert again.status_code == 200
    assert again.get_json()["duplicate"] is True
    assert job_count(store) == 3


@pytest.mark.parametrize(
    ("event", "payload", "reason"),
    [
        (
            "push",
            example("push", where={"ref": "refs/tags/simple-tag", "created": True}),
            "not a branch",
        ),
        (
            "push",
            example("push", where={"ref": "refs/tags/simple-tag", "deleted": True}),
            "not a branch",
        ),
        ("pull_request", example("pull_request", where={"action": "closed"}), "without merging"),
        ("pull_request", example("pull_request", where={"action": "labeled"}), "only merges"),
        ("issues", example("issues"), "does not deploy"),
    ],
    ids=["tag", "tag-deletion", "unmerged-close", "labeled", "other-event"],
)
def test_signed_but_irrelevant_deliveries_are_ignored_with_a_reason(
    client: FlaskClient, store: SqlStore, event: str, payload: dict[str, Any], reason: str
) -> None:
    response = post(client, Delivery(event, payload, SECRET))
    assert response.status_code == 202
    assert reason in response.get_json()["ignored"]
    assert job_count(store) == 0


def test_branch_deletion_and_unconfigured_repo_are_ignored(
    client: FlaskClient, store: SqlStore
) -> None:
    deletion = branch_push()
    deletion.update(deleted=True, after="0" * 40, head_commit=None)
    unknown = branch_push()
    unknown["repository"]["full_name"] = "octo-org/unknown"
    for payload in (deletion, unknown):
        response = post(client, Delivery("push", payload, SECRET))
        assert response.status_code == 202 and "ignored" in response.get_json()
    assert job_count(store) == 0


@pytest.mark.parametrize(
    ("headers", "drop"),
    [
        ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, ()),
        ({}, ("X-Hub-Signature-256",)),
        ({"X-Hub-Signature-256": "garbage"}, ()),
        ({"X-Hub-Signature": "sha1=" + "0" * 40}, ("X-Hub-Signature-256",)),
    ],
    ids=["wrong", "missing", "malformed", "legacy-sha1-only"],
)
def test_unverified_deliveries_get_401_and_store_nothing(
    client: FlaskClient, store: SqlStore, headers: dict[str, str], drop: tuple[str, ...]
) -> None:
    response = post(client, Delivery("push", branch_push(), SECRET), headers=headers, drop=drop)
    assert response.status_code == 401
    assert job_count(store) == 0


def test_delivery_signed_with_another_secret_is_refused(
    client: FlaskClient, store: SqlStore
) -> None:
    response = post(client, Delivery("push", branch_push(), b"not our secret"))
    assert response.status_code == 401
    assert job_count(store) == 0


def test_body_changed_after_signing_is_refused(client: FlaskClient, store: SqlStore) -> None:
    delivery = Delivery("push", branch_push(), SECRET)
    tampered = delivery.body.replace(b"master", b"mastes")
    response = client.post(URL, data=tampered, headers=delivery.headers())
    assert response.status_code == 401
    assert job_count(store) == 0


@pytest.mark.parametrize("drop", ["X-GitHub-Event", "X-GitHub-Delivery"])
def test_missing_event_headers_get_400(client: FlaskClient, store: SqlStore, drop: str) -> None:
    response = post(client, Delivery("push", branch_push(), SECRET), drop=(drop,))
    assert response.status_code == 400
    assert job_count(store) == 0


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b"\xff\xfe", b'{"ref": 1}'],
    ids=["not-json", "not-object", "not-utf8", "not-a-push"],
)
def test_signed_garbage_gets_400_never_500(
    client: FlaskClient, store: SqlStore, body: bytes
) -> None:
    delivery = Delivery("push", {}, SECRET)
    response = post(client, delivery, body=body)
    assert response.status_code == 400
    assert job_count(store) == 0


def test_signed_form_without_payload_field_gets_400(client: FlaskClient) -> None:
    body = b"something=else"
    delivery = Delivery("push", {}, SECRET, form=True)
    assert post(client, delivery, body=body).status_code == 400


def test_unsupported_content_type_gets_415(client: FlaskClient) -> None:
    delivery = Delivery("push", branch_push(), SECRET)
    response = post(client, delivery, headers={"Content-Type": "text/plain"})
    assert response.status_code == 415


def test_oversized_body_gets_413_and_stores_nothing(
    client: FlaskClient, store: SqlStore, app: Any
) -> None:
    limit = deployer(app).env.max_body_bytes
    body = b"{" + b" " * limit + b"}"
    headers = Delivery("push", {}, SECRET).headers(body)
    assert client.post(URL, data=body, headers=headers).status_code == 413
    assert job_count(store) == 0


def test_signature_covers_raw_form_body(client: FlaskClient, store: SqlStore) -> None:
    delivery = Delivery("push", branch_push(), SECRET, form=True)
    body = delivery.body
    assert delivery.headers()["X-Hub-Signature-256"] == github_signature(SECRET, body)
    response = client.post(URL, data=body, headers=delivery.headers())
    assert response.status_code == 202
    assert json.loads(response.data)["jobs"]
