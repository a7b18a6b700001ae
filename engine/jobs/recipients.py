"""Who a notification goes to: the `to` of a `notify` effect turned into email addresses.

Every address found must be one plain address (`name@example.org`): a line break in
one would let it write mail headers of its own (header injection), and a list where
one address is expected would mail people nobody named. Such an address is refused,
never repaired: the message becomes a dead letter naming whose address it is.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core.conditions import field_value
from engine.core.definition import ADDRESS_FIELD
from engine.jobs.errors import PermanentFailure
from engine.store.definitions import DefinitionVersion
from engine.store.instances import Instance, Task, names_of
from engine.store.people import Group, Membership, User

#: The recipients a workflow names by role, in words.
NAMED = {
    "requester": "the requester",
    "assignee": "the assignee",
    "candidates": "the candidates of the task",
}


def addresses(session: Session, instance: Instance, to: Any, tasks: Sequence[str]) -> list[str]:
    """Return the addresses of `to` (deduplicated, in order); raise if there are none."""
    found = _dedupe(_resolve(session, instance, to, tasks))
    if not found:
        raise PermanentFailure(f"no email address for {describe(to)}")
    for address in found:
        problem = address_problem(address)
        if problem is not None:
            whose = "" if isinstance(to, dict) and to.get("email") else f" of {describe(to)}"
            raise PermanentFailure(f"the address {address!r}{whose} {problem}")
    return found


def address_problem(address: str) -> str | None:
    """Say why `address` is not one plain email address; None if it is."""
    if "\r" in address or "\n" in address:
        return "holds a line break"
    if any(ord(character) < 32 or ord(character) == 127 for character in address):
        return "holds a control character"
    if "," in address or ";" in address or address.count("@") > 1:
        return "holds several addresses where one is expected"
    if "<" in address or ">" in address:
        return "is not a plain address (name@example.org)"
    if any(character.isspace() for character in address):
        return "holds a space"
    local, _, domain = address.rpartition("@")
    if not local or not domain or domain.startswith(".") or domain.endswith("."):
        return "is not an email address (name@example.org)"
    return None


def describe(to: Any) -> str:
    """Name a recipient in words, for reasons shown on the instance."""
    if isinstance(to, str):
        return NAMED.get(to, f"the recipient {to!r}")
    if isinstance(to, dict):
        if to.get("user"):
            return f"the user {to['user']}"
        if to.get("requester"):
            return "the requester"
        if to.get("email"):
            return f"the address {str(to['email'])!r}"
        if to.get("group"):
            return f"the group {to['group']}"
        if to.get("on_call"):
            return f"who is on call for {to['on_call']}"
        if to.get("manager_of"):
            return f"the manager of {to['manager_of']}"
    return f"the recipient {to!r}"


def _resolve(session: Session, instance: Instance, to: Any, tasks: Sequence[str]) -> list[str]:
    if to == "requester":
        return _requester(session, instance)
    if to in ("assignee", "candidates"):
        return _of_tasks(session, instance, tasks, candidates=to == "candidates")
    if isinstance(to, dict):
        # `{"requester": true}` arrives with `user` filled in when the requester is known.
        if to.get("user"):
            return _users(session, [str(to["user"])])
        if to.get("requester"):
            return _requester(session, instance)
        if to.get("email"):
            return [str(to["email"]).strip()]
        if to.get("group") or to.get("on_call"):
            return _group(session, str(to.get("group") or to["on_call"]))
        if to.get("manager_of"):
            return _manager(session, str(to["manager_of"]))
        given = [key for key in RECIPIENT_KEYS if key in to]
        if given:  # a template that came out empty when the notification was written
            raise PermanentFailure(
                f"the recipient's {given[0]} came out empty: what the workflow wrote there "
                "holds nothing on this instance"
            )
    raise PermanentFailure(f"the recipient {to!r} is not one the relay knows")


#: The keys a recipient object names someone by.
RECIPIENT_KEYS = ("email", "user", "group", "on_call", "manager_of")


def _requester(session: Session, instance: Instance) -> list[str]:
    """Return the requester's own address, else the one they gave on the start form."""
    found = _users(session, [instance.requester]) if instance.requester else []
    if not found:
        # Anonymous requesters (and users without an address) gave one on the start form,
        # in the field the workflow names for it.
        field = _address_field(session, instance)
        email = field_value(instance.state.get("data") or {}, field)
        found = [email.strip()] if isinstance(email, str) and email.strip() else []
    return found


def _address_field(session: Session, instance: Instance) -> str:
    """Return the start form's field that holds the requester's address (`confirm_to`)."""
    content = session.scalar(
        select(DefinitionVersion.content).where(
            DefinitionVersion.id == instance.workflow_version_id
        )
    )
    start = content.get("start") if isinstance(content, dict) else None
    named = start.get("confirm_to") if isinstance(start, dict) else None
    return named if isinstance(named, str) and named else ADDRESS_FIELD


def _users(session: Session, usernames: Sequence[str]) -> list[str]:
    rows = session.execute(
        select(User.username, User.email).where(User.username.in_(usernames), User.active)
    ).all()
    by_name = {name: email for name, email in rows if email}
    return [by_name[name] for name in usernames if name in by_name]


def _group(session: Session, key: str, but: Collection[str] = ()) -> list[str]:
    """The addresses of a group's active members, but those named in `but`."""
    query = (
        select(User.email)
        .join(Membership, Membership.user_id == User.id)
        .join(Group, Group.id == Membership.group_id)
        .where(Group.key == key, User.active, User.email.is_not(None), User.email != "")
        .order_by(User.username)
    )
    if but:
        query = query.where(User.username.not_in(list(but)))
    return list(session.scalars(query))


def _manager(session: Session, username: str) -> list[str]:
    manager_id = session.scalar(select(User.manager_id).where(User.username == username))
    if manager_id is None:
        return []
    manager = session.get(User, manager_id)
    return [manager.email] if manager and manager.active and manager.email else []


def _of_tasks(
    session: Session, instance: Instance, keys: Sequence[str], *, candidates: bool
) -> list[str]:
    """People on the instance's open tasks: the assignee, else (or for `candidates`) the group,
    but its members separation of duties keeps from the task (it is not in their queue)."""
    rows = session.scalars(
        select(Task)
        .where(Task.instance_id == instance.id, Task.key.in_(list(keys)), Task.status == "open")
        .order_by(Task.id)
    ).all()
    found: list[str] = []
    for task in rows:
        if task.assignee and not candidates:
            found += _users(session, [task.assignee])
        elif task.candidate_group:
            found += _group(session, task.candidate_group, names_of(task.kept_apart))
        elif task.assignee:
            found += _users(session, [task.assignee])
    return found


def _dedupe(found: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for address in found:
        if address and address.lower() not in seen:
            seen.add(address.lower())
            out.append(address)
    return out
