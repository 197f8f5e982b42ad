"""Log injection: text that others wrote (a chart's ``fail`` message in a job's outcome, an
unsigned request's headers, an exception quoting either) never forges a log record nor
reaches the reader's terminal as control sequences, in text lines or in JSON lines."""

from __future__ import annotations

import json
import logging
import re

import pytest
from flask.testing import FlaskClient

from webhook import logs

#: A record of its own, as TextFormatter writes one.
FORGED = "2026-11-27T10:00:00.000+00:00 INFO webhook.worker: job 5: succeeded"
#: Terminal control: set the window title, clear the screen, a carriage return over a line.
TERMINAL = "\x1b]0;owned\x07\x1b[2J\rvisible"
RECORD_START = re.compile(r"^\d{4}-\d\d-\d\dT")


def _record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("webhook.worker", logging.INFO, __file__, 1, message, args, info)


def _records(text: str) -> list[str]:
    return [line for line in text.splitlines() if RECORD_START.match(line)]


def test_a_forged_record_in_a_message_stays_inside_its_own_record() -> None:
    """worker.py logs each job's outcome, which quotes the renderer's error: a chart's
    ``fail`` text is the PR author's. Its lines continue the record, indented."""
    message = f"render: helm: execution error: fail: nope\n{FORGED}\u2028{FORGED}\r\n{TERMINAL}"
    line = logs.TextFormatter().format(_record("job %s: failed: %s", 5, message))
    assert len(_records(line)) == 1 and line.startswith(tuple("0123456789"))
    assert all(part.startswith(logs.CONTINUATION[1:]) for part in line.split("\n")[1:])
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f\u2028\u2029]", line)  # only newlines stay raw
    assert "\\x1b]0;owned\\x07\\x1b[2J\\rvisible" in line and "\\u2028" in line


def test_an_exception_quoting_a_forged_record_is_indented_under_its_record() -> None:
    try:
        raise RuntimeError(f"tool said:\n{FORGED}")
    except RuntimeError as exc:
        line = logs.TextFormatter().format(_record("job 5: step raised", exc=exc))
    assert len(_records(line)) == 1 and "Traceback" in line and FORGED in line


def test_json_lines_stay_one_line_whatever_a_value_holds() -> None:
    """JSON escapes control characters, but not U+2028 and U+2029, which readers that
    split lines the Unicode way (Python's ``splitlines``) take for line ends."""
    record = _record("job %s: %s", 5, f"a\u2028{FORGED}\u2029{TERMINAL}")
    line = logs.JsonFormatter().format(record)
    assert len(line.splitlines()) == 1 and "\x1b" not in line
    assert json.loads(line)["message"] == f"job 5: a\u2028{FORGED}\u2029{TERMINAL}"


def test_an_unsigned_requests_delivery_header_cannot_drive_the_terminal(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The receiver logs a refused delivery's id: a header anyone sends (HTTP carries no
    newline in it, but escape sequences and BEL it does)."""
    sent = TERMINAL.replace("\r", "")
    headers = {"X-GitHub-Delivery": sent, "X-GitHub-Event": "push"}
    with caplog.at_level(logging.WARNING, logger="webhook.web.receiver"):
        answer = client.post("/webhooks/github", data=b"{}", headers=headers)
    assert answer.status_code == 401
    (record,) = [r for r in caplog.records if r.name == "webhook.web.receiver"]
    assert sent in record.getMessage()  # the record holds what was sent...
    for formatter in (logs.TextFormatter(), logs.JsonFormatter()):
        shown = formatter.format(record)  # ...the line shows it inert
        assert "\x1b" not in shown and "\r" not in shown and "\x07" not in shown


def test_the_store_password_quoted_by_the_driver_is_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """psycopg quotes a malformed URL's password in its error, which the receiver logs
    (store unavailable) and a start-up prints: the password is masked like every secret."""
    import psycopg

    from webhook.settings import Environment

    url = "postgresql://deployer:Sup3r Secret%21pw@127.0.0.1:5432/deployer"
    with pytest.raises(psycopg.ProgrammingError) as raised:
        psycopg.connect(url, connect_timeout=1)
    assert "Sup3r Secret" in str(raised.value)  # what the driver says, unmasked
    given: list[str] = []

    def configure(level: str, fmt: str, secrets: list[str | None]) -> None:
        given.extend(s for s in secrets if s)  # as logs.configure keeps them

    monkeypatch.setattr(logs, "configure", configure)
    Environment(webhook_secret=b"log test secret", database_url=url).configure_logging()
    for formatter in (logs.JsonFormatter(given), logs.TextFormatter(given)):
        line = formatter.format(_record("store unavailable: %s", raised.value))
        assert "Sup3r" not in line and logs.REDACTED in line
