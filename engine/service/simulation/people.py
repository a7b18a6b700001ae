"""Who a simulated task would go to, read from the directory and said in words; nothing moves."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine.service.assignment import Assignee
from engine.service.oncall import on_call_now
from engine.store.repository import Repository

if TYPE_CHECKING:
    pass


# Who a task goes to ------------------------------------------------------------------------


#: Who starts a simulated instance when the caller names nobody: made up, in no group.
MADE_UP_REQUESTER = "requester"


@dataclass(slots=True)
class Picked:
    """Who a task goes to, as the service would store it, and the same in words."""

    who: Assignee
    words: str


class People:
    """Whom an assignment gives a task to, read from the directory and never written.

    Without a directory (`flowdesk play` has no database) the words say the rule alone:
    "round robin in network". A round-robin pick moves on in memory only, so the next
    task of the same group in the replay goes to the next member, as it would.
    """

    def __init__(self, directory: Repository | None, requester: str | None) -> None:
        self.directory = directory
        self.requester = requester
        self._turns: dict[str, str | None] = {}

    def pick(
        self,
        assign: Mapping[str, Any],
        at: datetime,
        current: Assignee | None = None,
        apart: frozenset[str] = frozenset(),
    ) -> Picked:
        """Resolve an effect's `assign` block as `assignment.resolve` does, and say it."""
        current = current or Assignee()
        if assign.get("next_tier"):
            return self._next_tier(current)
        if assign.get("manager"):
            if current.user is None:
                return Picked(current, "unchanged: the task has no holder whose manager to ask")
            boss, words = self._manager(current.user)
            return Picked(Assignee(boss, current.group) if boss else current, words)
        if assign.get("requester"):
            return self._requester(apart)
        if "manager_of" in assign:
            named = str(assign["manager_of"] or "")
            if not named:
                return Picked(Assignee(), "nobody: the manager's employee came out empty")
            boss, words = self._manager(named)
            return Picked(Assignee(boss), words)
        if "user" in assign:
            return self._user(str(assign["user"] or ""), apart)
        if "group" in assign:
            return self._group(str(assign["group"]), assign.get("strategy", "claim"), apart)
        if "on_call" in assign:
            return self._on_call(str(assign["on_call"]), at, apart)
        return Picked(Assignee(), "nobody: the assignment names no one")

    def _requester(self, apart: frozenset[str]) -> Picked:
        name = self.requester
        if name is None or name == MADE_UP_REQUESTER:
            return Picked(Assignee(name), "the requester")
        note = _passed_over(name) if name in apart else ""
        return Picked(Assignee(name), f"the requester, {name}{note}")

    def _user(self, name: str, apart: frozenset[str]) -> Picked:
        if not name:
            return Picked(Assignee(), "nobody: the user name came out empty")
        if self.directory is not None and not self.directory.active_users([name]):
            return Picked(Assignee(name), f"user '{name}' does not exist or cannot sign in")
        if name in apart:
            return Picked(
                Assignee(name),
                f"{name}, whom separation of duties keeps from this step: the task cannot "
                "be opened for them",
            )
        return Picked(Assignee(name), name)

    def _manager(self, employee: str) -> tuple[str | None, str]:
        if self.directory is None:
            return None, f"the manager of {employee}"
        if employee == MADE_UP_REQUESTER:
            return None, (
                f"the manager of {employee}: the simulated requester has none; name a "
                "real requester to see who"
            )
        boss = self.directory.manager_of(employee)
        if boss is None:
            return None, f"the manager of {employee}: {employee} has no manager, so nobody"
        return boss, f"the manager of {employee}: {boss}"

    def _members(self, group: str, apart: frozenset[str]) -> tuple[list[str], list[str]] | None:
        """Return a group's active members who may take the task, and those passed over;
        None when the group does not exist."""
        assert self.directory is not None
        if not self.directory.known_groups([group]):
            return None
        members = self.directory.members(group)
        return [p for p in members if p not in apart], [p for p in members if p in apart]

    def _group(self, group: str, strategy: str, apart: frozenset[str]) -> Picked:
        queue = Assignee(None, group)
        if not group:
            return Picked(Assignee(), "nobody: the group came out empty")
        if self.directory is None:
            rule = {"round_robin": "round robin in", "least_loaded": "the least loaded of"}
            return Picked(queue, f"{rule.get(strategy, 'the queue of group')} {group}")
        found = self._members(group, apart)
        if found is None:
            return Picked(queue, f"group '{group}' does not exist")
        people, skipped = found
        note = "".join(_passed_over(person) for person in skipped)
        if strategy == "claim" or not people:
            names = ", ".join(people) if people else "nobody can take it yet"
            return Picked(queue, f"the queue of group {group} ({names}){note}")
        if strategy == "least_loaded":
            load = self.directory.open_load(people)
            chosen = min(people, key=lambda person: (load.get(person, 0), person))
            count = load.get(chosen, 0)
            tasks = "open task" if count == 1 else "open tasks"
            return Picked(
                Assignee(chosen, group),
                f"the least loaded in {group}: {chosen} ({count} {tasks}){note}",
            )
        if group not in self._turns:
            row = self.directory.group(group)
            self._turns[group] = row.last_assigned if row is not None else None
        last = self._turns[group]
        chosen = next((p for p in people if last is None or p > last), people[0])
        self._turns[group] = chosen
        return Picked(
            Assignee(chosen, group), f"round robin in {group}: next would be {chosen}{note}"
        )

    def _on_call(self, schedule: str, at: datetime, apart: frozenset[str]) -> Picked:
        said = f"whoever is on call on schedule {schedule} at that time"
        if self.directory is None:
            return Picked(Assignee(None, schedule), said)
        person = on_call_now(self.directory, schedule, at)
        if person is None:
            return Picked(
                Assignee(None, schedule), f"{said}: nobody, so the queue of group {schedule}"
            )
        if person in apart:
            return Picked(
                Assignee(None, schedule),
                f"{said}: {person}, passed over (separation of duties), so the queue of "
                f"group {schedule}",
            )
        return Picked(Assignee(person, schedule), f"{said}: {person}")

    def _next_tier(self, current: Assignee) -> Picked:
        group = current.group
        if group is None:
            return Picked(current, "unchanged: the task is in no group with a next tier")
        if self.directory is None:
            return Picked(current, f"the next tier after {group}")
        row = self.directory.group(group)
        tier = self.directory.group_key(row.next_tier_id) if row and row.next_tier_id else None
        if tier is None:
            return Picked(Assignee(None, group), f"the queue of group {group}: it has no next tier")
        return Picked(
            Assignee(None, tier), f"the queue of group {tier}, the next tier after {group}"
        )


def _passed_over(person: str) -> str:
    return f"; {person} is passed over (separation of duties)"
