"""Acting on a whole instance from its page: reopen, change priority, link, mark a duplicate.

Each is one command under the instance's lock (both instances' locks, taken in id
order, when two are involved), decided here whichever door it came through, and
recorded on the timeline. Cancelling is `Commands.cancel` (a reason is required).

- **Reopen**: the service desk, or the instance's requester, sends an instance that
  ended at an end step back to work at the step the workflow's `reopen.to` names; a
  workflow without `reopen` cannot be reopened, nor can a cancelled instance or a
  duplicate (reopen its original). The SLA clocks count afresh from the reopening.
- **Priority**: the service desk sets another of the workflow's levels, with a reason;
  the SLA clocks are re-targeted by the engine's SLA rules.
- **Related**: the service desk links two instances; the link shows on both.
- **Duplicate**: the service desk closes an open instance into its original: it ends
  with the status `duplicate`, the original lists it, its requester is told on the
  request (a public comment) and by mail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select
from sqlalchemy.orm import Session

from engine.core.definition import Workflow
from engine.core.errors import Problem
from engine.core.events import ClosedAsDuplicate, PriorityChanged, Reopened
from engine.service.apply import message_row, record_events
from engine.service.commands import Commands, Result
from engine.service.errors import Conflict, InvalidInput, NotAllowed, NotFound
from engine.store.casework import InstanceLink
from engine.store.instances import Instance
from engine.store.repository import InstanceRow, Repository
from engine.store.uow import UnitOfWork

#: Outcomes of an ended instance that cannot be reopened, and why.
NOT_REOPENED = {
    "cancelled": "it was cancelled; start a new request instead",
    "duplicate": "it was closed as a duplicate; reopen its original instead",
}

#: The mail that tells a duplicate's requester where their request went.
MERGED_TEMPLATE = "instance-merged"


@dataclass(frozen=True, slots=True)
class Linked:
    """Another instance, as a link to it shows it."""

    number: str
    title: str
    status: str
    ended: bool


@dataclass(frozen=True, slots=True)
class Links:
    """What an instance is linked to: related ones, its original, its duplicates."""

    related: list[Linked]
    duplicate_of: Linked | None
    duplicates: list[Linked]


class Casework:
    """The instance-level commands of the service desk."""

    def __init__(self, commands: Commands) -> None:
        self.commands = commands

    def _reason(self, reason: str) -> str:
        return self.commands.check_text(reason, "the reason", self.commands.limits.max_reason_chars)

    def cancel(self, number: str, reason: str, *, actor: str, key: str | None = None) -> Result:
        """Stop an instance, with its reason (the service desk only)."""
        return self.commands.cancel(number, reason, actor=actor, key=key)

    def reopen(
        self,
        number: str,
        reason: str,
        *,
        actor: str,
        key: str | None = None,
        requester_of: str | None = None,
    ) -> Result:
        """Send an instance that ended back to work where its workflow says.

        `requester_of` (an instance number): the caller has proved to be that instance's
        requester, by its tracking link (`Requests.reopen`)."""
        why = self._reason(reason)

        def body(uow: UnitOfWork, at: datetime) -> Result:
            repo = uow.repository
            instance = self.commands.locked_instance(repo, number)
            theirs = requester_of == number or instance.requester == actor
            if not theirs and not repo.is_agent(actor):
                raise NotAllowed(f"only the service desk and its requester may reopen {number}")
            if instance.ended_at is None:
                raise Conflict(f"{number} has not ended; it is {instance.status}")
            workflow = self.commands.registry.workflow(repo, instance.workflow_version_id)
            refused = why_not_reopened(workflow, instance.state)
            if refused:
                raise Conflict(f"{number} cannot be reopened: {refused}")
            event = Reopened(workflow.doc["reopen"]["to"], why, actor)
            return self.commands.advance(uow, instance, event, at, key)

        asked = (number, why, actor, requester_of)
        return self.commands.execute("reopen", key, body, request=asked)

    def set_priority(
        self, number: str, priority: str, reason: str, *, actor: str, key: str | None = None
    ) -> Result:
        """Set an open instance's priority, with a reason; the SLA follows the new level."""
        why = self._reason(reason)
        level = priority.strip()
        if not level:
            raise InvalidInput("choose a priority", [_problem("/priority", "choose a priority")])

        def body(uow: UnitOfWork, at: datetime) -> Result:
            repo = uow.repository
            if not repo.is_agent(actor):
                raise NotAllowed(f"only the service desk may change the priority of {number}")
            instance = self.commands.locked_instance(repo, number)
            if instance.ended_at is not None:
                raise Conflict(f"{number} has ended ({instance.status})")
            event = PriorityChanged(level, why, actor)
            return self.commands.advance(uow, instance, event, at, key)

        return self.commands.execute("set_priority", key, body, request=(number, level, why, actor))

    def link(self, number: str, other: str, *, actor: str, key: str | None = None) -> Result:
        """Link two instances as related; the link shows on both."""
        other = other.strip()

        def body(uow: UnitOfWork, at: datetime) -> Result:
            repo = uow.repository
            if not repo.is_agent(actor):
                raise NotAllowed("only the service desk links instances")
            one, two = _lock_pair(self.commands, repo, number, other, "/other")
            if _linked(repo, one.id, two.id, "related"):
                raise Conflict(f"{one.number} and {two.number} are already linked")
            _add_link(repo, one, two, "related", actor, at)
            for here, there in ((one, two), (two, one)):
                event = _event("linked", at, actor, f"related to {there.number}", there)
                record_events(repo, here, [event], key, at)
            return {"instance_id": one.id, "number": one.number, "linked": two.number}

        return self.commands.execute("link", key, body, request=(number, other, actor))

    def mark_duplicate(
        self,
        number: str,
        original: str,
        reason: str,
        *,
        actor: str,
        key: str | None = None,
        link: str | None = None,
    ) -> Result:
        """Close an open instance into its original, and tell its requester.

        `link` is the address where the duplicate's requester follows it (the door knows
        it); their mail carries it.
        """
        why = self._reason(reason)
        original = original.strip()

        def body(uow: UnitOfWork, at: datetime) -> Result:
            repo = uow.repository
            if not repo.is_agent(actor):
                raise NotAllowed("only the service desk marks duplicates")
            duplicate, first = _lock_pair(self.commands, repo, number, original, "/original")
            if duplicate.ended_at is not None:
                raise Conflict(f"{number} has ended ({duplicate.status}); it cannot be merged")
            root = _original_of(repo, first.id)
            if root is not None:
                message = f"{first.number} is itself a duplicate of {root}; choose {root}"
                raise InvalidInput(message, [_problem("/original", message)])
            _add_link(repo, duplicate, first, "duplicate", actor, at)
            text = (
                f"Closed as a duplicate of {first.number} ({first_title(repo, first)}): "
                "the same problem is being worked on there, and you will hear about it."
            )
            Commands._add_comment(repo, duplicate, text, actor, True, at, key)
            answer = self.commands.advance(
                uow, duplicate, ClosedAsDuplicate(first.number, why, actor), at, key
            )
            event = _event("duplicate_added", at, actor, f"{duplicate.number}: {why}", duplicate)
            record_events(repo, first, [event], key, at)
            repo.add_outbox([_tell_requester(repo, duplicate, first, link, at)])
            return {**answer, "original": first.number}

        asked = (number, original, why, actor)
        return self.commands.execute("mark_duplicate", key, body, request=asked)

    def links(self, number: str) -> Links:
        """Return what an instance is linked to (NotFound for no such instance)."""
        with self.commands.database.reading() as session:
            instance_id = session.scalar(select(Instance.id).where(Instance.number == number))
            if instance_id is None:
                raise NotFound(f"there is no instance {number}")
            return _links(session, instance_id)


def first_title(repo: Repository, instance: InstanceRow) -> str:
    title = repo.connection.scalar(select(Instance.title).where(Instance.id == instance.id))
    return str(title or instance.number)


def _links(session: Session, instance_id: int) -> Links:
    rows = session.execute(
        select(InstanceLink.instance_id, InstanceLink.other_id, InstanceLink.kind)
        .where(or_(InstanceLink.instance_id == instance_id, InstanceLink.other_id == instance_id))
        .where(InstanceLink.kind != "problem")  # an incident's problem: `engine.service.problems`
        .order_by(InstanceLink.id)
    ).all()
    ids = {row.instance_id for row in rows} | {row.other_id for row in rows}
    found = {
        row.id: Linked(row.number, row.title, row.status, row.ended_at is not None)
        for row in session.execute(
            select(
                Instance.id, Instance.number, Instance.title, Instance.status, Instance.ended_at
            ).where(Instance.id.in_(ids))
        )
    }
    related, duplicates, duplicate_of = [], [], None
    for row in rows:
        there = row.other_id if row.instance_id == instance_id else row.instance_id
        if row.kind == "related":
            related.append(found[there])
        elif row.instance_id == instance_id:
            duplicate_of = found[there]
        else:
            duplicates.append(found[there])
    return Links(related, duplicate_of, duplicates)


def _lock_pair(
    commands: Commands, repo: Repository, number: str, other: str, pointer: str
) -> tuple[InstanceRow, InstanceRow]:
    """Lock two different instances in id order (two commands never wait on each other)."""
    if not other:
        raise InvalidInput("name the other instance", [_problem(pointer, "empty")])
    if other == number:
        message = f"{number} cannot be linked to itself"
        raise InvalidInput(message, [_problem(pointer, message)])
    first_id, second_id = repo.instance_id(number), repo.instance_id(other)
    if first_id is None:
        raise NotFound(f"there is no instance {number}")
    if second_id is None:
        message = f"there is no instance {other}"
        raise InvalidInput(message, [_problem(pointer, message)])
    locked = {i: repo.lock_instance(i) for i in sorted((first_id, second_id))}
    one, two = locked[first_id], locked[second_id]
    # Both ids were just read in this transaction: both rows are there.
    assert one is not None
    assert two is not None
    return one, two


def _linked(repo: Repository, one: int, two: int, kind: str) -> bool:
    found = repo.connection.scalar(
        select(InstanceLink.id).where(
            InstanceLink.kind == kind,
            or_(
                and_(InstanceLink.instance_id == one, InstanceLink.other_id == two),
                and_(InstanceLink.instance_id == two, InstanceLink.other_id == one),
            ),
        )
    )
    return found is not None


def _original_of(repo: Repository, instance_id: int) -> str | None:
    return repo.connection.scalar(
        select(Instance.number)
        .join(InstanceLink, InstanceLink.other_id == Instance.id)
        .where(InstanceLink.instance_id == instance_id, InstanceLink.kind == "duplicate")
    )


def _add_link(
    repo: Repository, one: InstanceRow, two: InstanceRow, kind: str, actor: str, at: datetime
) -> None:
    repo.connection.execute(
        insert(InstanceLink),
        {
            "instance_id": one.id,
            "other_id": two.id,
            "kind": kind,
            "created_by": actor,
            "created_at": at,
        },
    )


def why_not_reopened(workflow: Workflow, state: Mapping[str, Any]) -> str | None:
    """Why an ended instance cannot be reopened, in words; None when it can."""
    outcome = state.get("outcome")
    if outcome in NOT_REOPENED:
        return NOT_REOPENED[str(outcome)]
    if not workflow.doc.get("reopen"):
        return (
            f"the workflow '{workflow.title}' does not say where a reopened instance goes back to"
        )
    return None


def link_reported_again(
    repo: Repository, new: InstanceRow, earlier: InstanceRow, actor: str, at: datetime
) -> None:
    """Link a request to the ended one its requester reported again, and say so on both."""
    _add_link(repo, new, earlier, "related", actor, at)
    for here, there, why in (
        (new, earlier, f"reported again after {earlier.number}, which had ended"),
        (earlier, new, f"reported again by its requester as {new.number}"),
    ):
        record_events(repo, here, [_event("linked", at, actor, why, there)], None, at)


def _event(kind: str, at: datetime, actor: str, why: str, other: InstanceRow) -> dict[str, Any]:
    return {"kind": kind, "at": at, "actor": actor, "why": why, "detail": {"other": other.number}}


def _tell_requester(
    repo: Repository,
    duplicate: InstanceRow,
    original: InstanceRow,
    link: str | None,
    at: datetime,
) -> dict[str, Any]:
    """The mail to the duplicate's requester: a user, else the caller's or the form's address."""
    caller = repo.connection.scalar(select(Instance.caller).where(Instance.id == duplicate.id))
    email = caller.get("email") if isinstance(caller, dict) else None
    to: Any = {"email": email} if duplicate.requester is None and email else "requester"
    payload = {"to": to, "template": MERGED_TEMPLATE, "original": original.number}
    if link and duplicate.requester is not None:  # the page is behind sign-in: a user's
        payload["link"] = link
    return message_row(duplicate, "notify", payload, at)


def _problem(pointer: str, message: str) -> Problem:
    return Problem(pointer, message)
