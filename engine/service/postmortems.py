"""Postmortems of major incidents: drafted from the timeline, edited, with action items as tasks.

The rules, the same at every door (page, API, command line):

- Only a **major incident** (workflow `major-incident`) has a postmortem, and only once it
  is **resolved** (it ended, not cancelled nor merged as a duplicate): the postmortem looks
  back on a timeline that is whole. A reopened incident keeps its postmortem.
- Only the **service desk** (agents, admins, members of a group) drafts, reads, edits and
  exports it, and gives it action items.
- It is drafted **once** (`draft`): the text then belongs to the people editing it.
- Every save names the revision it started from; a save over someone else's newer one
  is a `Conflict` and changes nothing (optimistic concurrency, as the designer's drafts).
  Every revision is kept with who saved it and when.
- An **action item** is an instance of the pack's `action-item` workflow, started in the
  same transaction, a child of the incident (`parent_id`, without a run: the incident
  waits for nothing): its task goes to the person or the team's queue named, due on the
  day given, and appears in their inbox like any other task. The postmortem lists each
  with where it stands (ADR 59, docs/postmortems.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import Connection, insert, select, update

from engine.core.errors import Problem
from engine.service import postmortem_text as text
from engine.service.apply import record_events, sla_columns, sort_key
from engine.service.commands import Commands, Result
from engine.service.errors import Conflict, InvalidInput, NotAllowed, NotFound
from engine.service.postmortem_facts import gather
from engine.store.directory import Directory
from engine.store.instances import Instance, Task
from engine.store.postmortems import Postmortem as PostmortemModel
from engine.store.postmortems import PostmortemRevision
from engine.store.repository import InstanceRow, Repository
from engine.store.uow import UnitOfWork

#: The workflow whose instances have postmortems, and the one each action item starts.
MAJOR_INCIDENT = "major-incident"
ACTION_ITEM = "action-item"
#: The longest postmortem text kept, in characters.
MAX_BODY = 100_000
#: The longest action item title, as its form says.
MAX_TITLE = 200
#: Outcomes of an ended incident with nothing to look back on, and why.
NOTHING_TO_REVIEW = {
    "cancelled": "it was cancelled",
    "duplicate": "it was closed as a duplicate; write the postmortem of its original",
}
#: The time of its due day an action item's task is due by (UTC).
DUE_BY = time(23, 59)

_pm = PostmortemModel.__table__.c
_rev = PostmortemRevision.__table__.c
_i = Instance.__table__.c
_t = Task.__table__.c


@dataclass(frozen=True, slots=True)
class ActionItem:
    """An action item: its instance, what and who, its due day, and where it stands."""

    number: str
    title: str
    owner: str | None
    group: str | None
    due: date | None
    status: str
    ended: bool
    #: Who holds its task now, or who completed it.
    holder: str | None

    @property
    def who(self) -> str:
        """Say who it is for: the person, or the team's queue."""
        return self.owner or (f"the {self.group} queue" if self.group else "nobody")

    @property
    def state(self) -> str:
        """Say where it stands, as the document lists it."""
        if self.ended:
            said = "done" if self.status == "done" else self.status.replace("_", " ")
            return f"{said} ({self.holder})" if self.holder else said
        return f"open, with {self.holder}" if self.holder else "open, in the queue"


@dataclass(frozen=True, slots=True)
class Revision:
    """A saved revision: its number, who saved it and when."""

    revision: int
    saved_by: str
    saved_at: datetime


@dataclass(frozen=True, slots=True)
class Postmortem:
    """A postmortem as it stands, with its action items and its revisions, newest first."""

    number: str
    title: str
    body: str
    revision: int
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
    actions: list[ActionItem]
    revisions: list[Revision]

    def document(self) -> str:
        """The whole postmortem in Markdown, its action items last."""
        lines = [
            text.ActionLine(item.number, item.title, item.who, item.due, item.state)
            for item in self.actions
        ]
        return text.document(self.body, lines)


class Postmortems:
    """The postmortems of major incidents over one database."""

    def __init__(self, commands: Commands) -> None:
        self.commands = commands

    # Reading ---------------------------------------------------------------------------------

    def postmortem(self, number: str, *, actor: str) -> Postmortem | None:
        """Return an incident's postmortem, or None before it is drafted."""

        def read(session: Any) -> Postmortem | None:
            connection = session.connection()
            _require_desk(Directory(connection, row_locks=False), actor)
            row = _incident(connection, number)
            _require_major(row.workflow_key, number)
            return _load(connection, row.id, number, row.title)

        return self.commands.read(read)

    def export(self, number: str, *, actor: str, form: str = "markdown") -> str:
        """Return the whole postmortem as Markdown, or as a page that prints (`html`)."""
        if form not in ("markdown", "html"):
            message = f"there is no export '{form}'; choose markdown or html"
            raise InvalidInput(message, [Problem("/format", message)])
        found = self.postmortem(number, actor=actor)
        if found is None:
            raise NotFound(f"{number} has no postmortem yet; draft it first")
        markdown = found.document()
        if form == "markdown":
            return markdown
        return text.printable(f"Postmortem of {number}", text.render(markdown))

    # Commands --------------------------------------------------------------------------------

    def draft(self, number: str, *, actor: str, key: str | None = None) -> Postmortem:
        """Draft an incident's postmortem from its timeline, once it is resolved."""

        def body(uow: UnitOfWork, at: datetime) -> Result:
            repo = uow.repository
            _require_desk(repo, actor)
            incident = self.commands.locked_instance(repo, number)
            row = _incident(repo.connection, number)
            _require_major(row.workflow_key, number)
            if _postmortem_id(repo.connection, incident.id) is not None:
                raise Conflict(f"{number} already has a postmortem; edit it instead")
            _require_resolved(incident)
            facts = gather(self.commands, repo, incident, row.title)
            words = text.draft_text(facts, drafted_by=actor, at=at)
            found = repo.connection.execute(
                insert(PostmortemModel).returning(_pm.id),
                {
                    "instance_id": incident.id,
                    "body": words,
                    "revision": 1,
                    "created_by": actor,
                    "created_at": at,
                    "updated_by": actor,
                    "updated_at": at,
                },
            ).scalar_one()
            _keep_revision(repo.connection, found, 1, words, actor, at)
            event = {"kind": "postmortem_drafted", "at": at, "actor": actor}
            record_events(repo, incident, [event], key, at)
            return {"instance_id": incident.id, "number": number, "revision": 1}

        self.commands.execute("draft_postmortem", key, body, request=(number, actor))
        return self._after(number, actor)

    def save(self, number: str, body: str, revision: int, *, actor: str) -> Postmortem:
        """Save a new text, if it starts from the revision stored (Conflict otherwise)."""
        words = self._body(body)

        def write(uow: UnitOfWork, at: datetime) -> int:
            repo = uow.repository
            _require_desk(repo, actor)
            incident = self.commands.locked_instance(repo, number)
            _require_major(_incident(repo.connection, number).workflow_key, number)
            found = _postmortem_id(repo.connection, incident.id)
            if found is None:
                raise NotFound(f"{number} has no postmortem yet; draft it first")
            stored = repo.connection.execute(
                select(_pm.revision, _pm.updated_by).where(_pm.id == found)
            ).one()
            if stored.revision != revision:
                raise Conflict(
                    f"the postmortem of {number} changed meanwhile: {stored.updated_by} saved "
                    f"revision {stored.revision}, and yours started from revision {revision}; "
                    "copy your changes, reload it and make them again"
                )
            new = revision + 1
            repo.connection.execute(
                update(PostmortemModel)
                .where(_pm.id == found)
                .values(body=words, revision=new, updated_by=actor, updated_at=at)
            )
            _keep_revision(repo.connection, found, new, words, actor, at)
            return new

        self.commands.execute("save_postmortem", None, write)
        return self._after(number, actor)

    def add_action(
        self,
        number: str,
        title: str,
        *,
        due: date,
        actor: str,
        owner: str | None = None,
        group: str | None = None,
        details: str | None = None,
        key: str | None = None,
    ) -> ActionItem:
        """Give the postmortem an action item: a task for a person or a team, due on a day."""
        what = self.commands.check_text(title, "the action item", MAX_TITLE)
        owner, group = (owner or "").strip() or None, (group or "").strip() or None
        if bool(owner) == bool(group):
            message = "give the action item to a person or to a team, not both and not neither"
            raise InvalidInput(message, [Problem("/owner", message)])
        today = self.commands.clock().date()
        if due < today:
            message = f"the due day {due.isoformat()} has passed; choose {today} or later"
            raise InvalidInput(message, [Problem("/due", message)])
        data: dict[str, Any] = {"title": what, "due": due.isoformat(), "incident": number}
        data.update({"owner": owner} if owner else {"owner_group": group})
        if details and details.strip():
            data["details"] = details.strip()
        self.commands.check_data(data)

        def body(uow: UnitOfWork, at: datetime) -> Result:
            repo = uow.repository
            _require_desk(repo, actor)
            if group is not None and not repo.known_groups([group]):
                message = f"there is no team (group) '{group}'"
                raise InvalidInput(message, [Problem("/group", message)])
            incident = self.commands.locked_instance(repo, number)
            _require_major(_incident(repo.connection, number).workflow_key, number)
            if _postmortem_id(repo.connection, incident.id) is None:
                raise Conflict(f"{number} has no postmortem yet; draft it first")
            answer = self.commands.begin(
                uow, at, ACTION_ITEM, data, requester=actor, parent=(incident.id, None)
            )
            _due_on(repo, int(answer["instance_id"]), due, at)
            event = {
                "kind": "action_item_added",
                "at": at,
                "actor": actor,
                "why": f"{answer['number']}: {what}, for {owner or group}, due {due}",
                "detail": {"other": answer["number"]},
            }
            record_events(repo, incident, [event], key, at)
            return {"instance_id": incident.id, "number": number, "action": answer["number"]}

        asked = (number, data, actor)
        done = self.commands.execute("add_action_item", key, body, request=asked)
        found = self.postmortem(number, actor=actor)
        assert found is not None  # an action item is added to a postmortem that exists
        return next(item for item in found.actions if item.number == done["action"])

    def _body(self, body: str) -> str:
        if not body.strip():
            message = "the postmortem cannot be empty"
            raise InvalidInput(message, [Problem("/body", message)])
        return self.commands.check_text(body, "the postmortem", MAX_BODY) + "\n"

    def _after(self, number: str, actor: str) -> Postmortem:
        found = self.postmortem(number, actor=actor)
        assert found is not None  # just written
        return found


# Rules ---------------------------------------------------------------------------------------


def _require_desk(directory: Directory, actor: str) -> None:
    if not directory.is_agent(actor):
        raise NotAllowed(
            f"only the service desk writes and reads postmortems, and {actor} is not on it"
        )


def _require_major(workflow_key: str, number: str) -> None:
    if workflow_key != MAJOR_INCIDENT:
        message = f"{number} is not a major incident: only major incidents have a postmortem"
        raise InvalidInput(message, [Problem("/number", message)])


def _require_resolved(incident: InstanceRow) -> None:
    if incident.ended_at is None:
        raise Conflict(
            f"{incident.number} is still {incident.status.replace('_', ' ')}: its postmortem is "
            "drafted once it is resolved, from the whole timeline"
        )
    outcome = incident.state.get("outcome")
    if outcome in NOTHING_TO_REVIEW:
        raise Conflict(f"{incident.number} has no postmortem: {NOTHING_TO_REVIEW[outcome]}")


# Reading and writing rows --------------------------------------------------------------------


def _incident(connection: Connection, number: str) -> Any:
    row = connection.execute(
        select(_i.id, _i.title, _i.workflow_key).where(_i.number == number)
    ).one_or_none()
    if row is None:
        raise NotFound(f"there is no instance {number}")
    return row


def _postmortem_id(connection: Connection, instance_id: int) -> int | None:
    found = connection.execute(select(_pm.id).where(_pm.instance_id == instance_id)).scalar()
    return int(found) if found is not None else None


def _keep_revision(
    connection: Connection, postmortem_id: int, revision: int, body: str, actor: str, at: datetime
) -> None:
    connection.execute(
        insert(PostmortemRevision),
        {
            "postmortem_id": postmortem_id,
            "revision": revision,
            "body": body,
            "saved_by": actor,
            "saved_at": at,
        },
    )


def _due_on(repo: Repository, instance_id: int, due: date, at: datetime) -> None:
    """Make the action item's open task due at the end of its due day (UTC)."""
    due_at = datetime.combine(due, DUE_BY, UTC)
    repo.connection.execute(
        update(Task)
        .where(_t.instance_id == instance_id, _t.status == "open")
        .values(due_at=due_at, **sort_key(sla_columns(None), due_at, at))
    )


def _load(connection: Connection, instance_id: int, number: str, title: str) -> Postmortem | None:
    row = connection.execute(
        select(PostmortemModel.__table__).where(_pm.instance_id == instance_id)
    ).one_or_none()
    if row is None:
        return None
    revisions = [
        Revision(r.revision, r.saved_by, r.saved_at)
        for r in connection.execute(
            select(_rev.revision, _rev.saved_by, _rev.saved_at)
            .where(_rev.postmortem_id == row.id)
            .order_by(_rev.revision.desc())
        )
    ]
    return Postmortem(
        number,
        title,
        row.body,
        row.revision,
        row.created_by,
        row.created_at,
        row.updated_by,
        row.updated_at,
        _actions(connection, instance_id),
        revisions,
    )


def _actions(connection: Connection, instance_id: int) -> list[ActionItem]:
    rows = connection.execute(
        select(_i.id, _i.number, _i.title, _i.status, _i.ended_at, _i.state)
        .where(_i.parent_id == instance_id, _i.workflow_key == ACTION_ITEM)
        .order_by(_i.id)
    ).all()
    holders: dict[int, str | None] = {}
    for task in connection.execute(
        select(_t.instance_id, _t.status, _t.assignee, _t.completed_by)
        .where(_t.instance_id.in_([row.id for row in rows]))
        .order_by(_t.id)
    ):
        holders[task.instance_id] = task.completed_by if task.status != "open" else task.assignee
    return [_action(row, holders.get(row.id)) for row in rows]


def _action(row: Any, holder: str | None) -> ActionItem:
    data: Mapping[str, Any] = (row.state or {}).get("data") or {}
    due = data.get("due")
    return ActionItem(
        row.number,
        str(data.get("title") or row.title),
        data.get("owner") or None,
        data.get("owner_group") or None,
        date.fromisoformat(due) if isinstance(due, str) else None,
        row.status,
        row.ended_at is not None,
        holder,
    )
