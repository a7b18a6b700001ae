"""Checks on mail messages: every `notify` names a message that exists, and each of the
workflow's own messages parses, reads fields that exist, and is sent by some `notify`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from engine.core.checker.dataflow import Flow
from engine.core.checker.points import anywhere
from engine.core.checker.reads import template
from engine.core.checker.words import closest
from engine.core.errors import Problem
from engine.core.fields import FieldInfo
from engine.core.schema import iter_steps

#: What a message sees besides the data fields and `instance` (see `outbox.mail_context`).
MAIL_NAMES = (
    FieldInfo("tasks", "list"),
    FieldInfo("base_url", "string"),
    FieldInfo("step", "string"),
)
#: What only Flowdesk's own sends of a shipped message fill in, and so a workflow's message
#: of that name, which replaces it, sees too: the private tracking link of the confirmation
#: of a new request, and which answers the requester was told of since their last task. A
#: workflow's `notify` fills in neither: `{{ link }}` in any other message said "None".
SHIPPED_NAMES = {
    "request-received": (FieldInfo("link", "string"),),
    "requester-task": (FieldInfo("told", "list"),),
    "desk-replied": (FieldInfo("note", "any"),),
    "original-ended": (FieldInfo("note", "any"),),
}

#: Shipped messages Flowdesk sends by itself, without a `notify`: a workflow's message of the
#: same name replaces it, and is sent (the confirmation of a request made on the portal or by
#: mail, the mail of a requester's task, the mail of a request closed as a duplicate, the
#: desk's public reply to a requester without an account).
SENT_BY_FLOWDESK = frozenset(
    {"request-received", "requester-task", "instance-merged", "desk-replied", "original-ended"}
)

#: Shipped messages Flowdesk sends by itself, which a workflow's message of the same name
#: would replace: the mail of the bell's notifications (`service.notifications.MAIL_TEMPLATE`).
RESERVED = {
    "notification": "the mail Flowdesk sends itself for the bell's notifications (assigned "
    "to you, SLA warnings, mentions…)",
}

#: The most names a problem lists before "…".
SHOWN = 12


def check_messages(
    doc: Mapping[str, Any], flow: Flow, shipped: frozenset[str] | None
) -> Iterator[Problem]:
    """Report a `notify` naming no known message, a message that cannot be filled in, and a
    message that no `notify` sends (nor a `remind`, for `reminder`).

    `shipped` are the templates that ship with Flowdesk; None: unknown here, so names
    that are not the workflow's own are not checked.
    """
    own: Mapping[str, Any] = doc.get("messages", {})
    used: set[str] = set()
    for pointer, name in notified(doc):
        used.add(name)
        if name in own or shipped is None or name in shipped:
            continue
        yield Problem(pointer, unknown_message(name, own, shipped))
    for key, message in own.items():
        names = (*MAIL_NAMES, *SHIPPED_NAMES.get(key, ()))
        here = anywhere(flow).with_fields({info.key: info for info in names})
        if key in RESERVED:
            yield Problem(
                f"/messages/{key}",
                f"'{key}' is {RESERVED[key]}: a message of that name would replace it for "
                "every instance of this workflow; choose another name",
            )
        for part in ("subject", "body"):
            yield from template(message[part], f"/messages/{key}/{part}", here, strict=False)
        if key not in used and key not in SENT_BY_FLOWDESK:
            yield Problem(
                f"/messages/{key}",
                f"no notify sends the message '{key}', so it is never sent; name it in a "
                'notify\'s "template", or remove it',
            )


#: The message a `remind` sends (`steps.human`, `sla`): a workflow may write its own.
REMINDER = "reminder"


def notified(doc: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Yield where each mail `notify` names its template, and the name; and each `remind`,
    which sends the `reminder` message."""
    for _step_id, step, pointer, _parallel, _branch in iter_steps(doc["steps"]):
        if step["type"] == "action" and "notify" in step:
            notify = step["notify"]
            for index, one in enumerate([notify] if isinstance(notify, dict) else notify):
                where = (
                    f"{pointer}/notify" if isinstance(notify, dict) else f"{pointer}/notify/{index}"
                )
                if isinstance(one.get("template"), str):
                    yield f"{where}/template", one["template"]
        for rung, escalation in enumerate(step.get("escalate", ())):
            for index, action in enumerate(escalation["do"]):
                yield from _named(action, f"{pointer}/escalate/{rung}/do/{index}")
    for index, action in enumerate(doc.get("sla", {}).get("on_breach", ())):
        yield from _named(action, f"/sla/on_breach/{index}")


def _named(action: Mapping[str, Any], pointer: str) -> Iterator[tuple[str, str]]:
    if "remind" in action:
        yield f"{pointer}/remind", REMINDER
    elif "notify" in action and isinstance(action["notify"].get("template"), str):
        yield f"{pointer}/notify/template", action["notify"]["template"]


def unknown_message(name: str, own: Mapping[str, Any], shipped: frozenset[str]) -> str:
    """Say that no message has a name: the nearest one, the workflow's own, the shipped."""
    meant = closest(name, [*own, *shipped])
    hint = f"; did you mean '{meant}'?" if meant else "."
    mine = _names(own) if own else 'none (add them under "messages")'
    return (
        f"there is no message '{name}'{hint} This workflow's own messages: {mine}; "
        f"the messages that ship with Flowdesk: {_names(shipped)}"
    )


def _names(names: Any) -> str:
    ordered = sorted(names)
    return ", ".join(ordered[:SHOWN]) + (", …" if len(ordered) > SHOWN else "")
