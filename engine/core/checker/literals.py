"""What a name written as it is in an assignment or a recipient was likely meant to be.

`{"user": "manager"}` gives the task to a user named "manager", not to the person the
field `manager` names; `{"manager_of": "requester"}` asks for the manager of a user
named "requester". When such a name is not a known user (or group), and is the name
of a field at that point or a word the language uses for a role, it was meant to be
filled in.
"""

from __future__ import annotations

from engine.core.checker.points import At

#: What each text of an assignment or recipient names, when written as it is.
WRITTEN = {
    "user": "a user name", "manager_of": "a user name", "group": "a group name",
    "email": "an email address",
}  # fmt: skip


def meant_instead(
    key: str,
    text: str,
    where: str,
    at: At,
    groups: frozenset[str] | None,
    users: frozenset[str] | None,
) -> str | None:
    """Say what a plain name was likely meant to fill in; None when it may well be a name.

    `where` is the name's JSON Pointer: a recipient (`…/to/user`) and a reassignment
    (`…/reassign/…`) have ways of their own to name the assignee and their manager.
    """
    if key not in WRITTEN:
        return None
    known = groups if key == "group" else users if key != "email" else None
    if known is not None and text in known:
        return None
    if key == "email" and "@" in text:
        return None
    if key == "group" and known is None:
        return None  # a group may well share a field's name: only the directory tells
    taken = f"'{text}' is taken as {WRITTEN[key]} as it is written"
    role = _role(key, text, where)
    if role is not None:
        return f"{taken}; {role}"
    if at.info(text) is not None:
        return f"{taken}, but it is the name of a field here; did you mean {{{{ {text} }}}}?"
    return None


def _role(key: str, text: str, where: str) -> str | None:
    """Say how to name the role a word like "requester" or "assignee" means, if it is one."""
    if key not in ("user", "manager_of"):
        return None
    recipient = where.endswith("/to/user")
    if text == "requester":
        if key == "manager_of":
            return "did you mean {{ instance.requester }}?"
        return 'for the person who started the instance, write {"requester": true}'
    if text in ("assignee", "candidates") and recipient:
        return f'did you mean "to": "{text}"?'
    if text == "assignee" and key == "manager_of" and "/reassign/" in where:
        return 'for the manager of the current assignee, write "reassign": "manager"'
    return None
