"""Saved views of the instance list: a person's own, and those shared with their groups.

A view is a name, filters in the filter language (`engine.service.filters`) and a sort.
Anyone signed in keeps views of their own. Its owner may share it with one group they
belong to (an admin with any group): the group's members then see it and use it, and
only its owner (or an admin) renames it, changes it, shares it or deletes it. A view a
person may not see is not found; one they may see but not change is not allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine.core.errors import Problem
from engine.core.values import is_row_id
from engine.service.commands import Commands
from engine.service.errors import Conflict, InvalidInput, NotAllowed, NotFound
from engine.service.filters import DEFAULT_SORT, parse, parse_sort
from engine.service.person import Person
from engine.store.people import Group
from engine.store.search import SavedView

#: The longest name of a view, and how many views one person may keep.
MAX_NAME = 80
MAX_VIEWS = 100
#: "Leave the group as it is" for `update` (None there means "share with nobody").
UNCHANGED: Any = object()


@dataclass(frozen=True, slots=True)
class View:
    """A saved view as a person sees it."""

    id: int
    name: str
    owner: str
    group: str | None
    filters: dict[str, str]
    sort: str
    created_at: datetime
    updated_at: datetime
    #: The asking person may change it (its owner, or an admin).
    editable: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "owner": self.owner,
            "group": self.group,
            "filters": dict(self.filters),
            "sort": self.sort,
            "editable": self.editable,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def _view(row: SavedView, person: Person) -> View:
    return View(
        row.id,
        row.name,
        row.owner,
        row.group_key,
        dict(row.filters),
        row.sort,
        row.created_at,
        row.updated_at,
        row.owner == person.username or person.has_role("admin"),
    )


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"the view's {field} {message}", [Problem(f"/{field}", message)])


def _name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise _invalid("name", "cannot be empty")
    cleaned: str = " ".join(name.split())
    if len(cleaned) > MAX_NAME:
        raise _invalid("name", f"is {len(cleaned)} characters; the most is {MAX_NAME}")
    if any(ord(c) < 32 for c in cleaned):
        raise _invalid("name", "holds a control character")
    return cleaned


class SavedViews:
    """Create, list, change, share and delete saved views, each checked for its person."""

    def __init__(self, commands: Commands) -> None:
        self.commands = commands

    def visible(self, person: Person) -> list[View]:
        """Return a person's own views and those shared with their groups, by name."""

        def read(session: Session) -> list[View]:
            mine = SavedView.owner == person.username
            shared = SavedView.group_key.in_(sorted(person.groups))
            rows = session.scalars(
                select(SavedView)
                .where(or_(mine, shared) if person.groups else mine)
                .order_by(SavedView.name, SavedView.id)
            )
            return [_view(row, person) for row in rows]

        found: list[View] = self.commands.read(read)
        return found

    def get(self, person: Person, view_id: int) -> View:
        """Return a view the person may see; NotFound for any other."""

        def read(session: Session) -> View:
            return _view(_visible_row(session, person, view_id), person)

        found: View = self.commands.read(read)
        return found

    def create(
        self,
        person: Person,
        name: str,
        filters: Mapping[str, Any],
        sort: str | None = None,
        group: str | None = None,
    ) -> View:
        """Save a view of the person's own, shared with `group` if given."""
        name = _name(name)
        written, order = self._checked(filters, sort)

        def body(session: Session, at: datetime) -> View:
            count = session.scalar(select(func.count()).where(SavedView.owner == person.username))
            if (count or 0) >= MAX_VIEWS:
                raise _invalid("name", f"is one too many: a person keeps at most {MAX_VIEWS}")
            _require_unique(session, person.username, name, None)
            if group is not None:
                _require_group(session, person, group)
            row = SavedView(
                owner=person.username,
                name=name,
                group_key=group,
                filters=written,
                sort=order,
                created_at=at,
                updated_at=at,
            )
            session.add(row)
            session.flush()
            return _view(row, person)

        created: View = self.commands.write("save_view", body)
        return created

    def update(
        self,
        person: Person,
        view_id: int,
        *,
        name: str | None = None,
        filters: Mapping[str, Any] | None = None,
        sort: str | None = None,
        group: Any = UNCHANGED,
    ) -> View:
        """Rename a view, change its filters or sort, or share it (group None: stop sharing)."""
        new_name = _name(name) if name is not None else None
        checked = self._checked(filters, sort) if filters is not None or sort is not None else None

        def body(session: Session, at: datetime) -> View:
            row = _editable_row(session, person, view_id)
            if new_name is not None and new_name != row.name:
                _require_unique(session, row.owner, new_name, row.id)
                row.name = new_name
            if checked is not None:
                if filters is not None:
                    row.filters = checked[0]
                if sort is not None:
                    row.sort = checked[1]
            if group is not UNCHANGED:
                if group is not None:
                    _require_group(session, person, group)
                row.group_key = group
            row.updated_at = at
            session.flush()
            return _view(row, person)

        changed: View = self.commands.write("change_view", body)
        return changed

    def delete(self, person: Person, view_id: int) -> None:
        """Delete a view (its owner or an admin)."""

        def body(session: Session, at: datetime) -> None:
            session.delete(_editable_row(session, person, view_id))

        self.commands.write("delete_view", body)

    def _checked(
        self, filters: Mapping[str, Any] | None, sort: str | None
    ) -> tuple[dict[str, str], str]:
        """The filters and sort as a view keeps them, read by the list's own reader."""
        if filters is not None and not isinstance(filters, Mapping):
            raise _invalid("filters", "must map filter names to values")
        query = parse(filters or {}, self.commands.clock())
        column, down = parse_sort(sort or DEFAULT_SORT)
        return dict(query.filters), f"-{column}" if down else column


def _visible_row(session: Session, person: Person, view_id: int) -> SavedView:
    row = session.get(SavedView, view_id) if is_row_id(view_id) else None
    if row is None or not (
        row.owner == person.username
        or (row.group_key is not None and row.group_key in person.groups)
        or person.has_role("admin")
    ):
        raise NotFound(f"there is no view {view_id}")
    return row


def _editable_row(session: Session, person: Person, view_id: int) -> SavedView:
    row = _visible_row(session, person, view_id)
    if row.owner != person.username and not person.has_role("admin"):
        raise NotAllowed(f"only {row.owner}, who made the view '{row.name}', may change it")
    return row


def _require_unique(session: Session, owner: str, name: str, other_than: int | None) -> None:
    found = session.scalar(
        select(SavedView.id).where(SavedView.owner == owner, SavedView.name == name)
    )
    if found is not None and found != other_than:
        raise Conflict(f"there is already a view named '{name}'")


def _require_group(session: Session, person: Person, group: str) -> None:
    """Share only with a group that exists and, but for admins, that the person is in."""
    if (
        not isinstance(group, str)
        or session.scalar(select(Group.id).where(Group.key == group)) is None
    ):
        raise _invalid("group", f"'{str(group)[:80]}' is no group")
    if group not in person.groups and not person.has_role("admin"):
        raise NotAllowed(f"you may share a view only with a group you are in, not '{group}'")
