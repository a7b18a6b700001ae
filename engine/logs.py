"""Log lines and the request id they carry, for the web app and the worker alike.

A request id names one request to the web app and everything it causes later: the web
sets it for the request (`request_scope`), the store writes it on the outbox rows and
timers the request's command adds, and the worker sets it again (from that row, or from
the RQ job's `meta`) while it carries them out. Every log line written meanwhile, in
either process, carries it. It lives in a `ContextVar`, so threads and requests never see
each other's.

`configure` installs one handler on the root logger, text or JSON lines (one object a
line: time, level, logger, message, request_id, and any `extra=` given). Nothing happens
at import time: the app factory and the worker's entry point call it.
See docs/observability.md.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

#: The longest request id taken from a client (or a job); a longer one is replaced.
MAX_REQUEST_ID = 64
#: What a request id taken from outside may hold: letters, digits and a few separators,
#: nothing that could break a log line, a header or a query.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,63}")
#: The formats `configure` knows (`FLOWDESK_LOG_FORMAT`).
FORMATS = ("text", "json")
#: How text lines look; the request id is `-` outside any request.
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"

_request_id: ContextVar[str | None] = ContextVar("flowdesk_request_id", default=None)

#: The attributes every `LogRecord` has; any other one came from `extra=`.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "request_id", "taskName"}
)


class LoggingError(ValueError):
    """A logging setting (`FLOWDESK_LOG_FORMAT`, `FLOWDESK_LOG_LEVEL`) that cannot be used."""


def current_request_id() -> str | None:
    """The request id of the work this thread (or task) is doing now, if any."""
    return _request_id.get()


def sane_request_id(value: str | None) -> str | None:
    """Return `value` if it may serve as a request id as it is, else None."""
    if value and len(value) <= MAX_REQUEST_ID and SANE_REQUEST_ID.fullmatch(value):
        return value
    return None


def new_request_id() -> str:
    """A fresh request id: 128 random bits, as 32 hex digits."""
    return secrets.token_hex(16)


@contextmanager
def request_scope(request_id: str | None) -> Iterator[str | None]:
    """Carry `request_id` (None: none) on every log line and row written in the block."""
    token = _request_id.set(sane_request_id(request_id))
    try:
        yield _request_id.get()
    finally:
        _request_id.reset(token)


def enter_request(request_id: str) -> object:
    """Set the request id until `leave_request(token)`; for hooks that cannot use `with`."""
    return _request_id.set(request_id)


def leave_request(token: object) -> None:
    """Undo `enter_request`."""
    _request_id.reset(token)  # type: ignore[arg-type]


class RequestIdFilter(logging.Filter):
    """Give every record the current request id (`-` when there is none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, then extras."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": None if request_id in (None, "-") else request_id,
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and name not in line:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # default=str: an extra that JSON cannot hold is shown, never lost with the line.
        # orjson: about five times as fast as json here, and a line is written per request.
        return orjson.dumps(line, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Write to whatever `sys.stderr` is now (a test runner swaps it), not the one at start."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def check(log_format: str | None = None, level: str | int | None = None) -> None:
    """Refuse (LoggingError) a format or a level `configure` would refuse, changing nothing."""
    if (log_format or "text").strip().lower() not in FORMATS:
        raise LoggingError(f"FLOWDESK_LOG_FORMAT={log_format!r}: use one of {', '.join(FORMATS)}")
    if level not in (None, ""):
        _level(level)


def configure(log_format: str | None = None, level: str | int | None = None) -> logging.Handler:
    """Send every log line of this process to stderr in `log_format` (text by default).

    Calling it again replaces the handler it installed before, never one someone else
    installed. `level` (a name such as INFO, or a number) sets the root logger's level
    when given.
    """
    chosen = (log_format or "text").strip().lower()
    if chosen not in FORMATS:
        raise LoggingError(f"FLOWDESK_LOG_FORMAT={log_format!r}: use one of {', '.join(FORMATS)}")
    handler = _StderrHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if chosen == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    if level not in (None, ""):
        root.setLevel(_level(level))
    return handler


def _level(level: str | int | None) -> int:
    if isinstance(level, int):
        return level
    found = logging.getLevelName(str(level).strip().upper())
    if not isinstance(found, int):
        raise LoggingError(
            f"FLOWDESK_LOG_LEVEL={level!r}: use DEBUG, INFO, WARNING, ERROR or CRITICAL"
        )
    return found
