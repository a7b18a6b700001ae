"""The command path's lookups: group members, who is on call, managers, latest versions.

Like the rest of the command path (`engine.store.repository`), every statement is built
once with bind parameters and runs on the unit of work's connection, inside its
transaction and under its locks.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, bindparam, func, select

from engine.store.definitions import Definition, DefinitionVersion
from engine.store.people import Group, Membership, OnCallShift, User
from engine.store.services import Service
from engine.store.statements import Prepared, update_row

users = User.__table__
groups = Group.__table__
memberships = Membership.__table__
shifts = OnCallShift.__table__
definitions = Definition.__table__
versions = DefinitionVersion.__table__


class GroupRow(NamedTuple):
    id: int
    last_assigned: str | None
    next_tier_id: int | None


_MEMBERS = Prepared(
    select(users.c.username)
    .join(memberships, memberships.c.user_id == users.c.id)
    .join(groups, groups.c.id == memberships.c.group_id)
    .where(groups.c.key == bindparam("group"), users.c.active.is_(True))
    .order_by(users.c.username)
)
_IS_MEMBER = Prepared(
    select(func.count())
    .select_from(memberships)
    .join(users, users.c.id == memberships.c.user_id)
    .join(groups, groups.c.id == memberships.c.group_id)
    .where(users.c.username == bindparam("user"), groups.c.key == bindparam("group"))
)
_group_select = select(groups.c.id, groups.c.last_assigned, groups.c.next_tier_id).where(
    groups.c.key == bindparam("group")
)
_GROUP = Prepared(_group_select)
_GROUP_LOCKED = Prepared(_group_select.with_for_update())
_GROUP_KEY = Prepared(select(groups.c.key).where(groups.c.id == bindparam("id")))
_LAST_ASSIGNED = update_row(groups, "row", ("last_assigned",))
_ON_CALL = Prepared(
    select(shifts.c.username)
    .join(users, users.c.username == shifts.c.username)
    .where(
        shifts.c.schedule == bindparam("schedule"),
        shifts.c.starts_at <= bindparam("at"),
        shifts.c.ends_at > bindparam("at"),
        users.c.active.is_(True),
    )
    .order_by(shifts.c.starts_at.desc())
    .limit(1)
)
_managers = users.alias("managers")
_MANAGER = Prepared(
    select(_managers.c.username)
    .join(users, users.c.manager_id == _managers.c.id)
    .where(users.c.username == bindparam("user"))
)

_ACTIVE_USERS = select(users.c.username).where(
    users.c.username.in_(bindparam("names", expanding=True)), users.c.active.is_(True)
)
_ROLES = Prepared(
    select(users.c.roles).where(users.c.username == bindparam("user"), users.c.active.is_(True))
)
_IN_A_GROUP = Prepared(
    select(func.count())
    .select_from(memberships)
    .join(users, users.c.id == memberships.c.user_id)
    .where(users.c.username == bindparam("user"), users.c.active.is_(True))
)
_KNOWN_GROUPS = select(groups.c.key).where(groups.c.key.in_(bindparam("keys", expanding=True)))
#: Up to this many names are looked up one by one with prepared statements: an `IN` list
#: goes through `Connection.execute`, which costs more than a few prepared lookups.
FEW = 4
_ACTIVE_USER = Prepared(
    select(users.c.username).where(users.c.username == bindparam("name"), users.c.active.is_(True))
)
_KNOWN_GROUP = Prepared(select(groups.c.key).where(groups.c.key == bindparam("key")))

_LATEST = (
    select(definitions.c.key, versions.c.id)
    .join(versions, versions.c.definition_id == definitions.c.id)
    .where(versions.c.version == definitions.c.latest_version)
)
_LATEST_WORKFLOW = Prepared(
    _LATEST.where(definitions.c.kind == "workflow", definitions.c.key == bindparam("key"))
)
_LATEST_FORM = Prepared(
    _LATEST.where(definitions.c.kind == "form", definitions.c.key == bindparam("key"))
)
_VERSION_OF = Prepared(
    select(func.count())
    .select_from(versions.join(definitions, definitions.c.id == versions.c.definition_id))
    .where(
        versions.c.id == bindparam("id"),
        definitions.c.kind == bindparam("kind"),
        definitions.c.key == bindparam("key"),
    )
)
_NEXT = versions.alias("next_version")
#: When the version after one was published (None: it is the latest).
_SUPERSEDED = select(func.min(_NEXT.c.published_at)).select_from(
    versions.join(
        _NEXT,
        (_NEXT.c.definition_id == versions.c.definition_id)
        & (_NEXT.c.version > versions.c.version),
    )
)


def superseded_at(connection: Connection, version_id: int) -> datetime | None:
    """When a newer version of the same definition was first published; None for the
    latest. SQLite hands an aggregate's time back as text, read here."""
    found = connection.execute(_SUPERSEDED.where(versions.c.id == version_id)).scalar()
    if isinstance(found, str):
        found = datetime.fromisoformat(found)
    if found is not None and found.tzinfo is None:
        found = found.replace(tzinfo=UTC)
    return cast(datetime | None, found)


_LATEST_CALENDARS = _LATEST.where(
    definitions.c.kind == "calendar", definitions.c.key.in_(bindparam("keys", expanding=True))
)
_CONTENT = Prepared(select(versions.c.content).where(versions.c.id == bindparam("id")))


class Directory:
    """Lookups of one unit of work, on its connection."""

    def __init__(self, connection: Connection, *, row_locks: bool) -> None:
        self.connection = connection
        self.row_locks = row_locks
        self.dialect = connection.dialect.name

    def _value(self, statement: Prepared, params: dict[str, Any]) -> Any:
        row = statement.first(self.connection, params)
        return row[0] if row else None

    # People ------------------------------------------------------------------------------

    def members(self, group: str) -> list[str]:
        return [row[0] for row in _MEMBERS.all(self.connection, {"group": group})]

    def is_member(self, user: str, group: str) -> bool:
        return bool(self._value(_IS_MEMBER, {"user": user, "group": group}))

    def group(self, key: str, *, lock: bool = False) -> GroupRow | None:
        statement = _GROUP_LOCKED if lock and self.row_locks else _GROUP
        row = statement.first(self.connection, {"group": key})
        return GroupRow(*row) if row else None

    def group_key(self, group_id: int) -> str | None:
        return cast(str | None, self._value(_GROUP_KEY, {"id": group_id}))

    def set_last_assigned(self, group_id: int, user: str) -> None:
        _LAST_ASSIGNED.run(self.connection, {"row": group_id, "last_assigned": user})

    def on_call(self, schedule: str, at: datetime) -> str | None:
        """Return who is on call for a schedule at a moment: of the shifts that cover it, the
        latest to start whose person can still sign in."""
        return cast(str | None, self._value(_ON_CALL, {"schedule": schedule, "at": at}))

    def manager_of(self, username: str) -> str | None:
        return cast(str | None, self._value(_MANAGER, {"user": username}))

    def active_users(self, names: Sequence[str]) -> set[str]:
        """Return which of these usernames belong to users who may sign in."""
        if not names:
            return set()
        if len(names) <= FEW:
            return {name for name in names if _ACTIVE_USER.first(self.connection, {"name": name})}
        rows = self.connection.execute(_ACTIVE_USERS, {"names": list(names)})
        return {str(row[0]) for row in rows}

    def existing_services(self, keys: Sequence[str]) -> set[str]:
        """Return which of these keys are services of the catalogue."""
        if not keys:
            return set()
        rows = self.connection.execute(select(Service.key).where(Service.key.in_(list(keys))))
        return {str(row[0]) for row in rows}

    def is_agent(self, username: str) -> bool:
        """Tell whether an active user works the desk: an agent or admin, or in a group."""
        if self.roles_of(username) & {"agent", "admin"}:
            return True
        return bool(self._value(_IN_A_GROUP, {"user": username}))

    def roles_of(self, username: str) -> set[str]:
        """Return the roles of an active user (none for anyone else)."""
        return set(self._value(_ROLES, {"user": username}) or ())

    def known_groups(self, keys: Sequence[str]) -> set[str]:
        """Return which of these group keys exist."""
        if not keys:
            return set()
        if len(keys) <= FEW:
            return {key for key in keys if _KNOWN_GROUP.first(self.connection, {"key": key})}
        return {str(row[0]) for row in self.connection.execute(_KNOWN_GROUPS, {"keys": list(keys)})}

    # Published definitions ---------------------------------------------------------------

    def latest_workflow_version(self, key: str) -> int | None:
        row = _LATEST_WORKFLOW.first(self.connection, {"key": key})
        return int(row[1]) if row else None

    def superseded_at(self, version_id: int) -> datetime | None:
        """When a newer version of a definition's version was published (`superseded_at`)."""
        return superseded_at(self.connection, version_id)

    def latest_form_version(self, key: str) -> int | None:
        row = _LATEST_FORM.first(self.connection, {"key": key})
        return int(row[1]) if row else None

    def is_version_of(self, version_id: int, kind: str, key: str) -> bool:
        """Tell whether a version id is a published version of this definition."""
        return bool(self._value(_VERSION_OF, {"id": version_id, "kind": kind, "key": key}))

    def latest_calendar_versions(self, keys: Sequence[str]) -> dict[str, int]:
        rows = self.connection.execute(_LATEST_CALENDARS, {"keys": list(keys)})
        return {str(key): int(version) for key, version in rows}

    def content(self, version_id: int) -> dict[str, Any] | None:
        return cast(dict[str, Any] | None, self._value(_CONTENT, {"id": version_id}))
