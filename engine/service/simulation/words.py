"""Simulation in words: sample start data, and the timeline and timers said plainly."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from engine.core.audit import AuditEvent
from engine.core.steps.base import Step
from forms.definition import Form, option_values

if TYPE_CHECKING:
    pass


# Sample data -------------------------------------------------------------------------------


def sample_data(
    form: Form | None,
    given: Mapping[str, Any],
    today: date,
    user: str = "alice",
    service: str | None = None,
) -> dict[str, Any]:
    """Fill in a start form the way a careful requester might, keeping what was given.

    A field that names a person gets `user`, and one that names a service of the catalogue
    `service` (left empty without one): the service refuses a name nothing has.
    """
    data: dict[str, Any] = {}
    for spec in form.fields if form else []:
        key, kind = spec["key"], spec["type"]
        options = option_values(spec)
        if "default" in spec:
            data[key] = spec["default"]
        elif options:
            data[key] = [options[0]] if kind == "multiselect" else options[0]
        elif kind == "number":
            data[key] = spec.get("min", 1)
        elif kind == "checkbox":
            data[key] = False
        elif kind == "date":
            data[key] = today.isoformat()
        elif kind == "datetime":
            data[key] = f"{today.isoformat()}T09:00:00+00:00"
        elif kind == "user":
            data[key] = user
        elif kind == "service":
            if service is not None:
                data[key] = service
        elif spec.get("format") == "email":
            data[key] = "requester@example.org"
        elif kind in ("text", "textarea"):
            data[key] = f"Example {spec['label'].lower()}"
    data.update(given)
    return data


# Words -------------------------------------------------------------------------------------


def describe_event(event: AuditEvent) -> str:
    """Say what one audit event did, and why: `-> work: otherwise: no condition matched`."""
    detail = event.detail
    what = event.kind.replace("_", " ")
    if event.kind == "routed":
        what = f"-> {detail['to']}"
    elif event.kind == "data_set":
        what = f"set {detail['field']} = {detail['value']!r}"
    elif event.kind == "task_completed":
        what = f"task completed as '{detail.get('outcome')}'"
        if event.actor:
            what += f" by {event.actor}"
    elif event.kind == "voted":
        what = f"voted '{detail.get('vote')}'" + (f" ({event.actor})" if event.actor else "")
    elif event.kind == "timer_fired" and detail.get("sla"):
        what = f"SLA timer fired ({str(detail['sla']).replace(':', ' ')})"
    why = f": {event.why}" if event.why else ""
    return f"{what}{why}"


def describe_rung(step: Step, rung: int, count: int) -> str:
    """Say what an escalation rung of a step does: 'escalation 1 of 'Work': remind assignee'."""
    ladder = step.doc.get("escalate", ())
    spec = ladder[rung] if rung < len(ladder) else {}
    actions = "; ".join(_action_words(action) for action in spec.get("do", ()))
    times = ""
    if "repeat" in spec:
        times = f", time {count + 1} of {spec['repeat']['limit'] + 1}"
    return f"escalation {rung + 1} of '{step.label}'{times}: {actions}"


def _action_words(action: Mapping[str, Any]) -> str:
    ((kind, arg),) = action.items()
    if kind == "complete":
        return f"complete it as '{arg}'"
    if kind == "goto":
        return f"move on to '{arg}'"
    if kind == "remind":
        return f"remind {arg}"
    if kind == "reassign":
        if arg == "next_tier":
            return "reassign to the next tier"
        if arg == "manager":
            return "reassign to the manager"
        return f"reassign to {assign_words(arg)}"
    if kind == "raise_priority":
        return "raise the priority"
    if kind == "notify":
        return "send a notification"
    return kind.replace("_", " ")


def assign_words(assign: Any) -> str:
    """Say an `assign` block as written, before anyone is picked."""
    if not isinstance(assign, Mapping):
        return str(assign)
    if assign.get("requester"):
        return "the requester"
    if "user" in assign:
        return f"user {assign['user']}"
    if "group" in assign:
        return f"group {assign['group']}"
    if "on_call" in assign:
        return f"whoever is on call on schedule {assign['on_call']}"
    if "manager_of" in assign:
        return f"the manager of {assign['manager_of']}"
    return ", ".join(f"{key}={value}" for key, value in assign.items())
