"""Round 3 of the attacker's review: the status page shows repository text (a chart's
``fail`` message in a job's outcome) with Unicode's bidirectional controls, which made the
text around them read reordered (a failure that reads as a success). Comments already drop
them and the CLI escapes control characters; the page now drops them from every value it
prints. The real web app over a real (SQLite) store."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.test_hostile_web import failed_job

#: "failed: " then RIGHT-TO-LEFT OVERRIDE: the rest reads backwards ("deployed ok").
HOSTILE = "render failed: \u202ekotceyolped\u202c \u2067isolated\u2069 \u200fmark"


def test_a_job_message_cannot_reorder_the_text_of_a_page(client: FlaskClient, app: Flask) -> None:
    job_id = failed_job(app, HOSTILE, HOSTILE)
    for path in ("/", "/apps/docs", f"/jobs/{job_id}"):
        page = client.get(path).get_data(as_text=True)
        assert "render failed: kotceyolped isolated mark" in page, path
        for control in ("\u202e", "\u202c", "\u2067", "\u2069", "\u200f"):
            assert control not in page, (path, hex(ord(control)))
