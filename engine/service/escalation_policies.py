"""Escalation policies as every door manages them (admins), and whom a level pages now.

The levels, their timing and repeats are `engine.core.escalation_policies`; this module
checks what a policy names exists (schedules, groups, active users), stores it, and
answers whom a level notifies at a moment, a schedule target read as its person on call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core import escalation_policies as core
from engine.core.errors import Problem
from engine.service.errors import InvalidInput, NotFound
from engine.service.names import CONTROL, MAX_NAME, group_key_problems
from engine.service.oncall import on_call_now
from engine.service.permissions import require_admin
from engine.store.oncall import EscalationPolicy, OnCallSchedule

_policies = EscalationPolicy.__table__

if TYPE_CHECKING:
    from engine.service.shell import Shell
    from engine.store.repository import Repository
    from engine.store.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class PolicyView:
    key: str
    name: str
    document: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, **self.document}

    @property
    def policy(self) -> core.Policy:
        return core.policy_from_document(self.key, self.document)


class EscalationPolicies:
    """Create, change, delete and read escalation policies: one unit of work per call."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell

    def all(self) -> list[PolicyView]:
        return self.shell.read(
            lambda s: [
                PolicyView(row.key, row.name, dict(row.document))
                for row in s.scalars(select(EscalationPolicy).order_by(EscalationPolicy.key))
            ]
        )

    def get(self, key: str) -> PolicyView:
        def read(session: Session) -> PolicyView:
            row = _row(session, key)
            return PolicyView(row.key, row.name, dict(row.document))

        return self.shell.read(read)

    def save(self, key: str, document: Any, *, name: str = "", actor: str | None) -> PolicyView:
        """Create or replace a policy (admins); every schedule, group and user it names
        must exist."""
        problems = group_key_problems(key)
        if len(name) > MAX_NAME or CONTROL.search(name):
            problems.append(Problem("/name", f"a name has at most {MAX_NAME} characters"))
        problems += core.policy_problems(document)

        def body(uow: UnitOfWork, at: datetime) -> None:
            if actor is not None:
                require_admin(uow.repository, actor, "change escalation policies")
            found = problems or _unknown_targets(uow, document)
            if found:
                raise InvalidInput(
                    "the escalation policy cannot be saved: "
                    + "; ".join(str(p) for p in found[:5]),
                    found,
                )
            row = uow.session.scalars(
                select(EscalationPolicy).where(EscalationPolicy.key == key)
            ).one_or_none()
            if row is None:
                row = EscalationPolicy(key=key, created_at=at)
                uow.session.add(row)
            row.name, row.document, row.format, row.updated_at = (
                name or key,
                {
                    k: document[k]
                    for k in ("levels", "repeat", "acknowledge_within")
                    if k in document
                },
                core.FORMAT,
                at,
            )
            uow.session.flush()

        self.shell.execute("policy", None, body)
        return self.get(key)

    def delete(self, key: str, *, actor: str | None) -> None:
        def body(uow: UnitOfWork, at: datetime) -> None:
            if actor is not None:
                require_admin(uow.repository, actor, "change escalation policies")
            uow.session.delete(_row(uow.session, key))

        self.shell.execute("policy", None, body)

    def notified(self, key: str, level: int, at: datetime | None = None) -> list[str]:
        """Return the user names level `level` (0 is the first) of `key` pages at `at`:
        a schedule's person on call, a group's active members, a user who can sign in."""
        moment = at or self.shell.clock()

        def body(uow: UnitOfWork, now: datetime) -> list[str]:
            row = _row(uow.session, key)
            policy = core.policy_from_document(row.key, row.document)
            if not 0 <= level < len(policy.levels):
                raise InvalidInput(f"policy '{key}' has levels 0 to {len(policy.levels) - 1}")
            return people_for(uow.repository, core.notify_targets(policy, level), moment)

        return self.shell.execute("policy", None, body)


def paged(repo: Repository, key: str, level: int, at: datetime) -> list[str] | None:
    """Return whom level `level` of policy `key` pages at `at`, on the command path (the
    unit of work's connection): for intake to assign and notify. None: no such policy;
    a level past the last: nobody."""
    row = repo.connection.execute(
        select(_policies.c.document).where(_policies.c.key == key)
    ).first()
    if row is None:
        return None
    policy = core.policy_from_document(key, row.document)
    if not 0 <= level < len(policy.levels):
        return []
    return people_for(repo, core.notify_targets(policy, level), at)


def people_for(repo: Repository, targets: tuple[core.Target, ...], at: datetime) -> list[str]:
    """Return the people `targets` stand for at `at`, each once, in order."""
    people: list[str] = []
    for target in targets:
        if target.kind == "schedule":
            person = on_call_now(repo, target.key, at)
            people += [person] if person else []
        elif target.kind == "group":
            people += repo.members(target.key)
        else:
            people += sorted(repo.active_users([target.key]))
    return list(dict.fromkeys(people))


def _unknown_targets(uow: UnitOfWork, document: Any) -> list[Problem]:
    problems = []
    schedules = set(uow.session.scalars(select(OnCallSchedule.key)))
    for pointer, target in core.targets_in(document):
        if target.kind == "schedule" and target.key not in schedules:
            problems.append(Problem(pointer, f"there is no on-call schedule '{target.key}'"))
        elif target.kind == "group" and not uow.repository.known_groups([target.key]):
            problems.append(Problem(pointer, f"there is no group '{target.key}'"))
        elif target.kind == "user" and not uow.repository.active_users([target.key]):
            problems.append(Problem(pointer, f"there is no active user '{target.key}'"))
    return problems


def _row(session: Session, key: str) -> EscalationPolicy:
    row = session.scalars(select(EscalationPolicy).where(EscalationPolicy.key == key)).one_or_none()
    if row is None:
        raise NotFound(f"there is no escalation policy '{key}'")
    return row
