"""What an outbox message asks for, read from its payload; one that cannot be read is refused.

The payload is what a `notify` effect said (`engine.core.effects.Notify`), stored as JSON.
A row written by an older version, by hand, or damaged would otherwise crash the relay
on every attempt; reading it up front turns that into a dead letter saying what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.jobs.errors import PermanentFailure

#: Longest part of a payload value quoted in a reason.
MAX_QUOTED_CHARS = 80


@dataclass(frozen=True, slots=True)
class Message:
    """A mail from `template` to `to`, or a webhook POST to `webhook`."""

    step: str | None
    to: Any = None
    template: str | None = None
    webhook: str | None = None
    tasks: tuple[str, ...] = ()
    link: str | None = None
    #: What a notification says (`kind`, `summary`): `engine.service.notifications`.
    note: dict[str, str] | None = None
    #: The data fields the move that queued it changed (a mail says what is new; None: all).
    told: tuple[str, ...] | None = None

    @property
    def channel(self) -> str:
        """How it travels: `email` or `webhook`."""
        return "webhook" if self.webhook is not None else "email"


def read(payload: Any) -> Message:
    """Read a stored payload; raise `PermanentFailure` saying what is wrong with it."""
    if not isinstance(payload, dict):
        raise unreadable(f"it is {_kind(payload)}, not an object")
    step = _optional_text(payload, "step")
    webhook = _optional_text(payload, "webhook")
    template = _optional_text(payload, "template")
    link = _optional_text(payload, "link")
    tasks = payload.get("tasks") or ()
    if not isinstance(tasks, list | tuple) or not all(
        isinstance(task, str | int) and not isinstance(task, bool) for task in tasks
    ):
        raise unreadable(f"its 'tasks' is {_quoted(tasks)}, not a list of task keys")
    if webhook is not None:
        return Message(step, webhook=webhook, tasks=tuple(str(task) for task in tasks), link=link)
    if not template:
        raise unreadable("it is a mail without a template")
    to = payload.get("to")
    if not isinstance(to, str | dict):
        raise unreadable(f"its recipient is {_quoted(to)}")
    note = payload.get("note")
    if note is not None and not (
        isinstance(note, dict) and all(isinstance(v, str) for v in note.values())
    ):
        raise unreadable(f"its 'note' is {_quoted(note)}, not an object of texts")
    told = payload.get("told")
    if told is not None and not (
        isinstance(told, list) and all(isinstance(key, str) for key in told)
    ):
        raise unreadable(f"its 'told' is {_quoted(told)}, not a list of field names")
    keys = tuple(str(task) for task in tasks)
    fields = None if told is None else tuple(told)
    return Message(step, to, template, None, keys, link, note, fields)


def unreadable(why: str) -> PermanentFailure:
    """The failure of a payload the relay cannot read."""
    return PermanentFailure(f"the message cannot be read: {why}")


def _optional_text(payload: dict[str, Any], name: str) -> str | None:
    value = payload.get(name)
    if value is None or isinstance(value, str):
        return value
    raise unreadable(f"its '{name}' is {_quoted(value)}, not text")


def _kind(value: Any) -> str:
    if value is None:
        return "empty"
    return {
        list: "a list",
        str: "text",
        int: "a number",
        float: "a number",
        bool: "true or false",
    }.get(type(value), type(value).__name__)


def _quoted(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_QUOTED_CHARS else text[: MAX_QUOTED_CHARS - 1] + "…"
