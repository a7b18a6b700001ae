"""The start rule at run time: may this person start this workflow (its `start.by`)?

Decided in the start's transaction on the version that starts (`start_check`), and
asked by pages only to offer or hide a workflow (`allows`).
"""

from __future__ import annotations

from engine.core.definition import Workflow
from engine.core.starters import ANYONE, SIGNED_IN, start_rule
from engine.service.commands import StartCheck
from engine.service.errors import NotAllowed
from engine.service.person import Person
from engine.store.repository import Repository


def allows(rule: str | tuple[str, ...], person: Person | None) -> bool:
    """Tell whether a start rule lets a person (None: nobody signed in) start."""
    if rule == ANYONE:
        return True
    if person is None:
        return False
    if rule == SIGNED_IN or "admin" in person.roles:
        return True
    return any(group in person.groups for group in rule)


def require_may_start(repo: Repository, workflow: Workflow, person: str | None) -> None:
    """Refuse a start the workflow's `start.by` does not let `person` make."""
    rule = start_rule(workflow.start)
    if rule == ANYONE:
        return
    if person is None:
        raise NotAllowed(f"sign in to start '{workflow.title}': it is not open to everyone")
    if person not in repo.active_users([person]):
        raise NotAllowed(
            f"'{person}' is not an active user, and '{workflow.title}' is not open to everyone"
        )
    if rule == SIGNED_IN or "admin" in repo.roles_of(person):
        return
    if not any(repo.is_member(person, group) for group in rule):
        groups = ", ".join(rule)
        raise NotAllowed(f"only members of {groups} may start '{workflow.title}'")


def start_check(person: str | None) -> StartCheck:
    """The `check` a start for `person` runs in its transaction."""

    def check(repo: Repository, workflow: Workflow) -> None:
        require_may_start(repo, workflow, person)

    return check
