"""Log lines for log pipelines and for people: JSON lines (default) or text, with context.

Owns: the stderr handler every process installs (``configure``, called through
``Environment.configure_logging``), its formatter, the context a line carries (delivery,
event, app, commit, job: bound with ``bound`` or passed as ``extra=``) and the last line of
defence against leaks: the values of the process's secrets are replaced by ``<redacted>``
in every line, whoever logged them. gunicorn's error and access logs take the same
formatter (web/server.py). Must not import the rest of the package: settings imports it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal

LogFormat = Literal["json", "text"]
LOG_FORMATS: tuple[LogFormat, ...] = ("json", "text")
REDACTED = "<redacted>"
#: A secret shorter than this is not masked: replacing every "a" in every line would make
#: the logs unreadable and protect nothing (such a secret is refused nowhere, but guessable).
MIN_MASKED_LENGTH = 8

_context: ContextVar[Mapping[str, Any]] = ContextVar(
    "deployer_log_context", default=MappingProxyType({})
)
#: Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Add ``fields`` (None values left out) to every line logged in this context."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The context bound around the call, then the record's own ``extra=`` fields."""
    fields = dict(_context.get())
    fields.update((k, v) for k, v in vars(record).items() if k not in _STANDARD)
    return fields


class _Masking(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        parts: set[str] = set()
        for secret in secrets:
            # A PEM key is also masked line by line: a log that shows a piece shows enough.
            parts.update(p.strip() for p in [secret, *secret.splitlines()])
        self._secrets = sorted((p for p in parts if len(p) >= MIN_MASKED_LENGTH), key=len)[::-1]

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


class JsonFormatter(_Masking):
    """One JSON object per line: time, level, logger, message, context, then any extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update((k, v) for k, v in _fields(record).items() if k not in entry)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        text = self.mask(json.dumps(entry, default=str, ensure_ascii=False))
        # JSON escapes every other control character; these two it leaves raw, and readers
        # that split lines the Unicode way (Python's ``splitlines``) would split on them.
        return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


#: Control characters (C0, DEL, C1) and Unicode's line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: What starts each line of a record after its first: no continuation looks like a record.
CONTINUATION = "\n    "


def _escape(found: re.Match[str]) -> str:
    return ascii(found.group())[1:-1]


def _one_record(text: str) -> str:
    """``text`` as lines of one record: every control character but the newline (carriage
    return, escape, separators...) written as its Python escape, and every line after the
    first indented. A value someone else wrote (a tool's error, a header, a chart's ``fail``
    text) can then neither forge a record of its own nor drive the reader's terminal."""
    return CONTINUATION.join(_CONTROL.sub(_escape, line) for line in text.split("\n"))


class TextFormatter(_Masking):
    """``time level logger: message [key=value ...]`` for a terminal; a multi-line message
    or a traceback continues on indented lines (JSON lines escape by themselves)."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        line = f"{when} {record.levelname} {record.name}: {record.getMessage()}"
        if fields := _fields(record):
            line += " [" + " ".join(f"{k}={v}" for k, v in fields.items()) + "]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return _one_record(self.mask(line))


_current: logging.Formatter = TextFormatter()


def formatter() -> logging.Formatter:
    """The formatter ``configure`` installed, for handlers others create (gunicorn's)."""
    return _current


def configure(level: str, fmt: LogFormat, secrets: Iterable[str | None] = ()) -> None:
    """Log to stderr at ``level`` in format ``fmt``, masking ``secrets``.

    ``level`` applies to the deployer's loggers; other libraries log at INFO at most, so
    DEBUG never prints a client library's request and response bodies (Secrets included).
    In a process whose root logger already has someone else's handler (pytest, another
    entry point), only the deployer's level is set.
    """
    global _current
    known = [s for s in secrets if s]
    _current = JsonFormatter(known) if fmt == "json" else TextFormatter(known)
    logging.getLogger("webhook").setLevel(level)
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "deployer", False)]
    if len(ours) == len(root.handlers):
        root.setLevel(max(logging.getLevelNamesMapping()[level], logging.INFO))
        for handler in ours:
            root.removeHandler(handler)
        handler = logging.StreamHandler(sys.stderr)
        handler.deployer = True  # type: ignore[attr-defined]
        handler.setFormatter(_current)
        root.addHandler(handler)
