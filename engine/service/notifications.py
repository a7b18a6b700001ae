"""Notifications: who is told what, written in the same transaction as what caused it.

The command path calls `after_events` with the audit entries it has just saved (and
`after_comment` for a comment); each entry that concerns someone becomes one row per
recipient in `notifications`, and, for the kinds a recipient chose in their settings,
one `notify` message in the outbox, which the relay mails after commit like any other.
What nobody is told costs one loop over the entries; a task that opens costs one read
of the task, one of its group's members and one insert.

The doors (the bell, the list page, the REST API) read and mark them through
`Notifications`, where the rule "a person sees and marks only their own" lives.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from engine.core.errors import Problem
from engine.service.errors import InvalidInput, NotFound
from engine.settings import NOTIFICATION_KEPT, NOTIFICATION_READ_KEPT
from engine.store.directory import FEW
from engine.store.instances import REQUESTER, Instance, Task, names_of
from engine.store.notifications import Notification, NotificationSettings
from engine.store.repository import InstanceRow, Repository
from engine.store.statements import Prepared

if TYPE_CHECKING:
    from engine.service.shell import Shell

#: Every kind of notification, and how the settings page names it.
KINDS: Mapping[str, str] = {
    "assigned": "A task is given to you",
    "queue": "Your group's queue gets work",
    "sla_warning": "An SLA of your work is about to break",
    "sla_breached": "An SLA of your work broke",
    "mentioned": "Someone mentions you (@you) in a comment",
    "request_changed": "Your request changes: its status, or a reply to you",
    "requester_replied": "The requester of your work writes (a comment, a mail)",
    "paged": "An escalation policy pages you for an incident",
    "problem_resolved": "The problem behind an incident of yours is resolved",
}
#: The mail template of each kind (`engine/jobs/templates/<name>.subject.txt`, ...).
MAIL_TEMPLATE = "notification"
#: A name after "@" in a comment, as usernames are written (letters, digits, . _ -).
MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9][A-Za-z0-9._-]{0,79})")
#: At most this many people are told of one comment by mention.
MAX_MENTIONS = 20
#: A notification's summary is cut to this many characters (the column holds 500).
MAX_SUMMARY = 300
#: The most a list page or API call returns at once.
MAX_PAGE = 100

notifications = cast(Table, Notification.__table__)
settings_table = cast(Table, NotificationSettings.__table__)
tasks = cast(Table, Task.__table__)

_COLUMNS = ("recipient", "kind", "instance_id", "number", "task_id", "actor", "summary")
_ADD = Prepared(
    insert(notifications)
    .values({name: bindparam(name) for name in (*_COLUMNS, "created_at")})
    .inline()
)
_TASK = Prepared(
    select(
        tasks.c.id,
        tasks.c.title,
        tasks.c.assignee,
        tasks.c.candidate_group,
        tasks.c.status,
        tasks.c.kept_apart,
    ).where(tasks.c.instance_id == bindparam("instance"), tasks.c.key == bindparam("key"))
)
_MAIL_KINDS = select(settings_table.c.username, settings_table.c.mail).where(
    settings_table.c.username.in_(bindparam("names", expanding=True))
)
#: The same for one person, as a prepared statement (for up to `FEW` people).
_MAIL_KINDS_OF = Prepared(
    select(settings_table.c.username, settings_table.c.mail).where(
        settings_table.c.username == bindparam("name")
    )
)


@dataclass(frozen=True, slots=True)
class Note:
    """One notification about to be written."""

    recipient: str
    kind: str
    task_id: int | None = None
    task_key: str | None = None
    summary: str = ""
    #: Who did what it tells of; None when the workflow did (a task routed to its holder).
    by: str | None = None


# The command path ---------------------------------------------------------------------------


def after_events(
    repo: Repository,
    instance: InstanceRow,
    entries: Sequence[Mapping[str, Any]],
    at: datetime,
    open_tasks: Iterable[str] = (),
) -> None:
    """Tell whom the audit entries just saved concern (`open_tasks`: the instance's task keys)."""
    actors = {str(entry["actor"]) for entry in entries if entry.get("actor")}
    if instance.requester and any(entry["kind"] == "started" for entry in entries):
        actors.add(instance.requester)  # who just asked knows where their request stands
    notes: list[Note] = []
    for entry in entries:
        kind = entry["kind"]
        detail = entry.get("detail") or {}
        if kind == "task_opened" and detail.get("task"):
            # The workflow routed it: whoever's action opened the step did not give it.
            notes += _task_notes(repo, instance, str(detail["task"]))
        elif kind in ("task_reassigned", "task_delegated", "task_unclaimed") and detail.get("task"):
            # Given to someone, or given back to a queue: its group hears of it as of new work.
            by = str(entry["actor"]) if entry.get("actor") else None
            # Why it was handed on ("to dana: she speaks Dutch"), for whoever it reaches.
            why = str(entry.get("why") or "")
            given = _task_notes(repo, instance, str(detail["task"]), why=why, by=by)
            _withdraw_unread(repo, instance, given)
            notes += given
        elif kind in ("sla_warning", "sla_breached"):
            why = str(entry.get("why") or "")
            for key in open_tasks:
                notes += _task_notes(repo, instance, key, kind, why)
        elif kind in ("status_changed", "ended") and detail.get("status"):
            # An end sets the final status in one event: "Now closed", "Now cancelled".
            words = str(detail["status"]).replace("_", " ")
            by = str(entry["actor"]) if entry.get("actor") else None
            notes += _requester_notes(repo, instance, f"Now {words}", actors, by)
    _write(repo, instance, notes, actors, at)


def after_comment(
    repo: Repository,
    instance: InstanceRow,
    text: str,
    actor: str | None,
    public: bool,
    at: datetime,
) -> None:
    """Tell the people a comment mentions, and the requester of a public reply."""
    excerpt = " ".join(text.split())
    notes: list[Note] = []
    named = list(dict.fromkeys(MENTION.findall(text)))[:MAX_MENTIONS]
    for username in sorted(repo.active_users(named)) if named else ():
        # An internal note reaches the service desk only; a public comment its requester too.
        if repo.is_agent(username) or (public and username == instance.requester):
            notes.append(Note(username, "mentioned", summary=excerpt, by=actor))
    actors = {actor} if actor else set()
    if public and actor is not None and actor in (REQUESTER, instance.requester):
        # The requester writes (on the tracking page, by mail): whoever holds the work hears.
        mentioned = {note.recipient for note in notes}  # told once of one comment
        notes += [
            Note(holder, "requester_replied", task_id, key, f"{title} — {excerpt}", actor)
            for task_id, key, title, holder in _held_tasks(repo, instance)
            if holder not in mentioned
        ]
    elif public:
        notes += _requester_notes(repo, instance, excerpt, actors, actor)
    _write(repo, instance, notes, actors, at)


def _held_tasks(repo: Repository, instance: InstanceRow) -> list[tuple[int, str, str, str]]:
    """The instance's open tasks someone holds: (id, key, title, holder). A queued task's
    group is not told of each of the requester's comments: every member, every time."""
    tasks = cast(Table, Task.__table__)
    rows = repo.connection.execute(
        select(tasks.c.id, tasks.c.key, tasks.c.title, tasks.c.assignee).where(
            tasks.c.instance_id == instance.id,
            tasks.c.status == "open",
            tasks.c.assignee.is_not(None),
        )
    ).all()
    return [(row[0], row[1], row[2], row[3]) for row in rows]


def tell(
    repo: Repository, instance: InstanceRow, notes: Sequence[Note], actor: str, at: datetime
) -> None:
    """Write notes made outside the audit trail (an escalation policy's pages), and mail."""
    _write(repo, instance, [replace(note, by=actor) for note in notes], {actor}, at)


def _task_notes(
    repo: Repository,
    instance: InstanceRow,
    key: str,
    kind: str | None = None,
    why: str = "",
    by: str | None = None,
) -> list[Note]:
    """Tell the holder of a task, or its group's members while it is queued (but those
    separation of duties keeps from it: it is not in their queue)."""
    row = _TASK.first(repo.connection, {"instance": instance.id, "key": key})
    if row is None or row[4] != "open":
        return []
    task_id, title, assignee, group = row[0], str(row[1]), row[2], row[3]
    summary = f"{title} — {why}" if why else title
    if assignee:
        return [Note(assignee, kind or "assigned", task_id, key, summary, by)]
    if group:
        apart = names_of(row[5])
        return [
            Note(member, kind or "queue", task_id, key, summary, by)
            for member in repo.members(group)
            if member not in apart
        ]
    return []


def _withdraw_unread(repo: Repository, instance: InstanceRow, given: list[Note]) -> None:
    """A task handed on is no longer its earlier holder's or queue's: the unread word that
    it was given to them (the round-robin pick an on-call page took it from, a moment
    later) is taken back. A word already read stays, as what happened."""
    if not given or given[0].task_id is None:
        return
    keep = {note.recipient for note in given}
    repo.connection.execute(
        delete(notifications).where(
            notifications.c.instance_id == instance.id,
            notifications.c.task_id == given[0].task_id,
            notifications.c.kind.in_(("assigned", "queue")),
            notifications.c.read_at.is_(None),
            notifications.c.recipient.not_in(keep),
        )
    )


def _requester_notes(
    repo: Repository, instance: InstanceRow, summary: str, actors: set[str], by: str | None
) -> list[Note]:
    requester = instance.requester
    if not requester or requester in actors:
        return []  # (asked before the look-up: a requester acting is the common case)
    if not repo.active_users([requester]):
        return []  # anonymous requesters hear by mail, as their workflow says
    return [Note(requester, "request_changed", summary=summary, by=by)]


def _write(
    repo: Repository, instance: InstanceRow, notes: list[Note], actors: set[str], at: datetime
) -> None:
    """Insert one row per recipient (nobody is told of their own doing), and the mails asked for."""
    seen: set[tuple[str, str, int | None]] = set()
    kept: list[Note] = []
    for note in notes:
        unique = (note.recipient, note.kind, note.task_id)
        if note.recipient in actors or unique in seen:
            continue
        seen.add(unique)
        kept.append(note)
    if not kept:
        return
    _ADD.many(
        repo.connection,
        [
            {
                "recipient": note.recipient,
                "kind": note.kind,
                "instance_id": instance.id,
                "number": instance.number,
                "task_id": note.task_id,
                "actor": note.by,
                "summary": _cut(note.summary),
                "created_at": at,
            }
            for note in kept
        ],
    )
    _mail(repo, instance, kept, at)


def _mail(repo: Repository, instance: InstanceRow, notes: list[Note], at: datetime) -> None:
    """Queue a mail for each notification whose recipient asked for its kind by mail."""
    names = sorted({note.recipient for note in notes})
    # A few people (a task's assignee, a small group) are looked up one by one with the
    # prepared statement: an `IN` list goes through `Connection.execute`, which costs more.
    found = (
        [row for name in names for row in _MAIL_KINDS_OF.all(repo.connection, {"name": name})]
        if len(names) <= FEW
        else repo.connection.execute(_MAIL_KINDS, {"names": names}).all()
    )
    wanted = {str(name): set(kinds or ()) for name, kinds in found}
    rows = [
        {
            "instance_id": instance.id,
            "kind": "notify",
            "payload": {
                "to": {"user": note.recipient},
                "template": MAIL_TEMPLATE,
                "step": None,
                "tasks": [note.task_key] if note.task_key else [],
                "link": link(instance.number, note.task_id),
                "note": {"kind": note.kind, "summary": _cut(note.summary)},
                "instance": instance.id,
                "number": instance.number,
            },
            "status": "pending",
            "attempts": 0,
            "created_at": at,
        }
        for note in notes
        if note.kind in wanted.get(note.recipient, ())
    ]
    repo.add_outbox(rows)  # with the request id, like every outbox row


def link(number: str, task_id: int | None) -> str:
    """Where a notification leads: its task's page, else its instance's."""
    return f"/tasks/{task_id}" if task_id is not None else f"/instances/{number}"


def _cut(text: str) -> str:
    return text if len(text) <= MAX_SUMMARY else text[: MAX_SUMMARY - 1] + "…"


# The doors ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Item:
    """A notification as the bell's list shows it."""

    id: int
    kind: str
    number: str
    title: str
    task_id: int | None
    actor: str | None
    summary: str
    created_at: datetime
    read_at: datetime | None

    @property
    def link(self) -> str:
        return link(self.number, self.task_id)

    @property
    def words(self) -> str:
        return KINDS.get(self.kind, self.kind)


class Notifications:
    """A person's notifications and settings: one read or one unit of work per call."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell

    def unread(self, username: str) -> tuple[int, int]:
        """Return how many of my notifications are unread, and the newest one's id (0: none)."""

        def body(session: Session) -> tuple[int, int]:
            count = session.scalar(
                select(func.count())
                .select_from(notifications)
                .where(notifications.c.recipient == username, notifications.c.read_at.is_(None))
            )
            newest = session.scalar(
                select(func.max(notifications.c.id)).where(notifications.c.recipient == username)
            )
            return int(count or 0), int(newest or 0)

        return self.shell.read(body)

    def items(
        self, username: str, *, unread_only: bool = False, limit: int = 50, offset: int = 0
    ) -> tuple[list[Item], int]:
        """Return a page of my notifications, newest first, and how many there are."""
        limit = max(1, min(limit, MAX_PAGE))

        def body(session: Session) -> tuple[list[Item], int]:
            mine = [notifications.c.recipient == username]
            if unread_only:
                mine.append(notifications.c.read_at.is_(None))
            rows = session.execute(
                select(
                    notifications.c.id,
                    notifications.c.kind,
                    notifications.c.number,
                    Instance.title,
                    notifications.c.task_id,
                    notifications.c.actor,
                    notifications.c.summary,
                    notifications.c.created_at,
                    notifications.c.read_at,
                )
                .join(Instance, Instance.id == notifications.c.instance_id)
                .where(*mine)
                .order_by(notifications.c.id.desc())
                .limit(limit)
                .offset(max(0, offset))
            ).all()
            total = session.scalar(select(func.count()).select_from(notifications).where(*mine))
            return [Item(*row) for row in rows], int(total or 0)

        return self.shell.read(body)

    def mark_read(self, username: str, notification_id: int) -> None:
        """Mark one of my notifications read; another person's is not found."""

        def body(session: Session, at: datetime) -> None:
            done = session.execute(
                update(notifications)
                .where(
                    notifications.c.id == notification_id,
                    notifications.c.recipient == username,
                )
                .values(read_at=func.coalesce(notifications.c.read_at, at))
            )
            if cast(Any, done).rowcount != 1:
                raise NotFound(f"there is no notification {notification_id}")

        self.shell.write("mark notification read", body)

    def mark_all_read(self, username: str) -> int:
        """Mark every unread notification of mine read; return how many were."""

        def body(session: Session, at: datetime) -> int:
            done = session.execute(
                update(notifications)
                .where(notifications.c.recipient == username, notifications.c.read_at.is_(None))
                .values(read_at=at)
            )
            return int(cast(Any, done).rowcount or 0)

        return self.shell.write("mark notifications read", body)

    def mail_kinds(self, username: str) -> list[str]:
        """Return the kinds I also get by mail, in the order of `KINDS`."""
        found = self.shell.read(lambda session: session.get(NotificationSettings, username))
        chosen = set(found.mail) if found is not None else set()
        return [kind for kind in KINDS if kind in chosen]

    def set_mail_kinds(self, username: str, kinds: Iterable[str]) -> list[str]:
        """Choose which kinds I also get by mail; an unknown kind is refused, nothing changed."""
        chosen = list(dict.fromkeys(kinds))
        unknown = [kind for kind in chosen if kind not in KINDS]
        if unknown:
            known = ", ".join(KINDS)
            raise InvalidInput(
                f"there is no kind of notification '{unknown[0]}'; choose from: {known}",
                [Problem("/mail", f"no kind of notification '{unknown[0]}'")],
            )
        ordered = [kind for kind in KINDS if kind in chosen]

        def body(session: Session, at: datetime) -> list[str]:
            row = session.get(NotificationSettings, username)
            if row is None:
                session.add(NotificationSettings(username=username, mail=ordered))
            else:
                row.mail = ordered
            return ordered

        return self.shell.write("notification settings", body)


def prune_notifications(session: Session, at: datetime) -> int:
    """Delete notifications read more than `NOTIFICATION_READ_KEPT` ago, and any older than
    `NOTIFICATION_KEPT`: the bell and the list show the recent ones. Returns how many."""
    read_long_ago = and_(
        Notification.read_at.is_not(None), Notification.created_at < at - NOTIFICATION_READ_KEPT
    )
    old = or_(read_long_ago, Notification.created_at < at - NOTIFICATION_KEPT)
    deleted = session.execute(delete(Notification).where(old))
    return int(getattr(deleted, "rowcount", 0) or 0)
