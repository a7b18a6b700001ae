"""How the parts of a workflow read in a sentence: assignments, conditions, escalation rungs.

Used by the diff of two versions (`designer.workflow_diff`). Tolerant of drafts, which are
stored as sent: a part out of shape reads as what it is, never raises. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

#: How condition operators read.
OPS = {
    "eq": "is", "ne": "is not", "lt": "is less than", "le": "is at most",
    "gt": "is more than", "ge": "is at least", "in": "is one of", "not_in": "is none of",
    "contains": "contains", "empty": "is empty", "not_empty": "is not empty",
}  # fmt: skip


def mapping(value: Any) -> Mapping[str, Any]:
    # A draft is stored as sent: anything out of shape compares as empty.
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def value_words(value: Any) -> str | None:
    if value is None:
        return None
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, str):
        return f"'{value}'"
    return json.dumps(value, ensure_ascii=False)


def assign_words(assign: Any) -> str | None:
    if assign is None:
        return None
    if isinstance(assign, str):  # an escalation's `reassign`: next_tier, manager
        return "the next tier" if assign == "next_tier" else f"the {assign}"
    spec = mapping(assign)
    if "group" in spec:
        strategy = spec.get("strategy")
        how = f" ({str(strategy).replace('_', ' ')})" if strategy not in (None, "claim") else ""
        return f"group {spec['group']}{how}"
    if "user" in spec:
        return f"user {spec['user']}"
    if "on_call" in spec:
        return f"whoever is on call for {spec['on_call']}"
    if "requester" in spec:
        return "the requester"
    if "manager_of" in spec:
        return f"the manager of {spec['manager_of']}"
    return value_words(assign)


def condition_words(condition: Any) -> str | None:
    if condition is None:
        return None
    if isinstance(condition, str):
        return f"the expression '{condition}'"
    spec = mapping(condition)
    for joint in ("all", "any"):
        if isinstance(spec.get(joint), list):
            parts = [condition_words(part) or "?" for part in spec[joint]]
            return "(" + f" {'and' if joint == 'all' else 'or'} ".join(parts) + ")"
    if "not" in spec:
        return f"not {condition_words(spec['not'])}"
    op = OPS.get(str(spec.get("op")), str(spec.get("op")))
    value = "" if "value" not in spec else f" {value_words(spec['value'])}"
    return f"{spec.get('field')} {op}{value}"


def rung_words(rung: Any) -> str:
    spec = mapping(rung)
    when = f"after {spec.get('after')}"
    if "calendar" in spec:
        when += f" of {spec['calendar']} business time"
    repeat = mapping(spec.get("repeat"))
    if repeat:
        when += f", then every {repeat.get('every')} up to {repeat.get('limit')} times"
    actions = [_actionwords(action) for action in as_list(spec.get("do"))]
    return f"{when}: {'; '.join(actions)}"


def _actionwords(action: Any) -> str:
    ((name, arg),) = mapping(action).items() or [("?", None)]
    if name == "remind":
        return f"remind the {arg}"
    if name == "reassign":
        return f"reassign to {assign_words(arg)}"
    if name == "raise_priority":
        return "raise the priority one level" if arg is True else f"raise the priority to {arg}"
    if name == "complete":
        return f"complete as '{arg}'"
    if name == "goto":
        return f"go to step '{arg}'"
    if name == "notify":
        return "send a notification"
    return f"{name} {value_words(arg)}"
