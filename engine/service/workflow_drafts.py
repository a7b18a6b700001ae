"""The workflow designer's use cases: drafts, checks as you go, publishing, versions, templates.

Workflow drafts are kept as form drafts are (`engine.service.drafts`: the envelope in
`definitions.draft`, a revision per save, stale saves refused). A draft is checked as
publishing checks it: `check_workflow` against the published forms, calendars and
workflows, with the groups and users that exist. Publishing freezes the saved draft
through the same `check_documents`/`write_documents` path `flowdesk load` takes.

Only designers and admins create, save and publish workflows: the designer's pages
refuse others, and so does this service, whichever door a call comes through (an actor
of None is the operator at the command line).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from engine.core.checker import References, check_workflow_flow
from engine.core.checker.dataflow import Flow
from engine.core.checker.fields_at import FieldAt, fields_of
from engine.core.errors import Problem
from engine.service.definitions import (
    CHECK_TRIES,
    CatalogChanged,
    Checked,
    Published,
    check_documents,
)
from engine.service.drafts import (
    Draft,
    definition_row,
    draft_document,
    draft_or_version,
    latest_content,
    list_drafts,
    load_draft,
    publish_checked,
    require_revision,
    save_draft,
    versions,
)
from engine.service.errors import Conflict, InvalidInput, NotAllowed, NotFound
from engine.service.workflow_context import (
    fields_answer,
    picker_context,
    references,
    running_steps,
)
from engine.service.workflow_templates import Template, from_form, shipped_templates
from engine.store.people import Group, User

if TYPE_CHECKING:
    from engine.service.shell import Shell

KIND = "workflow"
#: The roles that may design workflows (admins have every role).
DESIGNER_ROLES = frozenset({"designer", "admin"})


@dataclass(frozen=True, slots=True)
class WorkflowCheck:
    """A draft's check: its problems, warnings, and the fields each step may read."""

    problems: list[Problem]
    warnings: list[Problem] = field(default_factory=list)
    #: The fields each step (and `$start`) may read, as the checker's dataflow knows them.
    fields: dict[str, list[FieldAt]] = field(default_factory=dict)

    @property
    def fields_at(self) -> dict[str, list[dict[str, Any]]]:
        """Return the fields each step may read, each in full (`FieldAt.to_json`)."""
        return {step: [f.to_json() for f in found] for step, found in self.fields.items()}

    def to_json(self, fields_seen: Any = None) -> dict[str, Any]:
        """The check as the API answers it, its fields compact and only those the caller
        lacks, given what it holds (`fields_seen`, see `fields_answer`)."""
        return {
            "ok": not self.problems,
            "problems": [_json(p) for p in self.problems],
            "warnings": [_json(p) for p in self.warnings],
            **fields_answer(self.fields, fields_seen),
        }


def _json(problem: Problem) -> dict[str, str]:
    return {"pointer": problem.pointer, "message": problem.message}


class WorkflowDrafts:
    """The workflow designer's use cases: one read or one unit of work per call."""

    def __init__(self, shell: Shell, templates: tuple[Template, ...] | None = None) -> None:
        self.shell = shell
        #: The workflows a new one may start from (the shipped pack's, unless given).
        self.templates = shipped_templates() if templates is None else templates

    def workflows(self) -> list[dict[str, Any]]:
        """Return every workflow, published or only drafted, with its draft state."""
        return self.shell.read(lambda session: list_drafts(session, KIND))

    def context(self) -> dict[str, Any]:
        """Return what the pickers offer: forms and their fields, people, calendars, templates."""
        return self.shell.read(lambda session: picker_context(session, self.templates))

    def draft(self, key: str) -> Draft:
        """Return the draft of a workflow (else its latest version, else a blank workflow)."""
        return self.shell.read(lambda session: load_draft(session, key, kind=KIND))

    def save(self, key: str, document: Any, revision: int, by: str | None) -> Draft:
        """Store a draft as sent, if it starts from the stored revision (Conflict if stale)."""

        def write(session: Session, at: datetime) -> Draft:
            require_designer(session, by, "change workflows")
            return save_draft(session, key, document, revision, at, by, kind=KIND)

        return self.shell.write("draft", write)

    def create(
        self, key: str, by: str | None, *, template: str | None = None, form: str | None = None
    ) -> Draft:
        """Start a new workflow: blank, from a template, or around a published form.

        Conflict when the key already has a draft or a published version.
        """
        if template is not None and form is not None:
            raise InvalidInput("start from a template or from a form, not both")
        chosen = self._template(template) if template is not None else None

        def write(session: Session, at: datetime) -> Draft:
            require_designer(session, by, "create workflows")
            if definition_row(session, key, kind=KIND) is not None:
                raise Conflict(
                    f"there is already a workflow '{key}'; open it, or choose another key"
                )
            if chosen is not None:
                document = chosen.for_key(key)
            elif form is not None:
                document = _from_form(session, key, form)
            else:
                document = load_draft(session, key, kind=KIND).document
            return save_draft(session, key, document, 0, at, by, kind=KIND)

        return self.shell.write("draft", write)

    def _template(self, template: str) -> Template:
        for found in self.templates:
            if found.id == template:
                return found
        ids = ", ".join(t.id for t in self.templates) or "none"
        raise NotFound(f"there is no template '{template}' (templates: {ids})")

    def check(self, key: str, document: Any) -> WorkflowCheck:
        """Check a draft as publishing would, and say which fields each step may read."""
        refs, latest = self.shell.read(
            lambda session: (
                references(session, document) if isinstance(document, dict) else None,
                _latest_step_ids(session, key),
            )
        )
        if refs is None:
            return WorkflowCheck(workflow_problems(key, document, None))
        warnings = self._removed_steps(key, latest, document)
        problems, flow = _checked(key, document, refs)
        return WorkflowCheck(problems, warnings, fields_of(flow) if flow is not None else {})

    def _removed_steps(
        self, key: str, latest: frozenset[str], document: dict[str, Any]
    ) -> list[Problem]:
        """Warn of steps the draft removes while instances of the latest version wait there."""
        gone = latest - _step_ids(document)
        if not gone:
            return []
        running = self.running(key)
        return [
            Problem(
                "/steps",
                f"{running['steps'][step]} running instance(s) of version {running['version']} "
                f"wait at step '{step}', which this draft removes; they finish on version "
                f"{running['version']}",
            )
            for step in sorted(gone)
            if running["steps"].get(step)
        ]

    def publish(self, key: str, by: str | None, *, revision: int | None) -> Published:
        """Publish the saved draft (if still at `revision`) once it passes every check.

        The checks run in a reading session; the write only makes sure the draft and what
        is published are what was checked, and freezes the version (none when identical).
        """
        for _ in range(CHECK_TRIES):
            stored, checked = self.shell.read(lambda session: _plan(session, key, revision, by))
            try:
                return self._write(key, stored, checked, by)
            except CatalogChanged:
                continue
        raise Conflict("what is published kept changing while the draft was checked; try again")

    def _write(self, key: str, revision: int, checked: Checked, by: str | None) -> Published:
        def write(session: Session, at: datetime) -> Published:
            require_designer(session, by, "publish workflows")
            return publish_checked(session, key, revision, checked, at, by, kind=KIND)

        return self.shell.write("publish", write)

    def versions(self, key: str) -> list[dict[str, Any]]:
        """Return the published versions of a workflow, oldest first."""
        return self.shell.read(lambda session: versions(session, key, KIND))

    def running(self, key: str) -> dict[str, Any]:
        """Return how many open instances of the latest version wait at each step."""
        return self.shell.read(lambda session: running_steps(session, key))

    def documents(self, key: str, *which: int | None) -> list[Any]:
        """Return versions of a workflow (None: its draft), read together, for a diff."""
        return self.shell.read(
            lambda session: [draft_or_version(session, key, w, KIND) for w in which]
        )


def require_designer(session: Session, actor: str | None, what: str) -> None:
    """Refuse anyone but an active designer or admin; None is the operator (command line)."""
    if actor is None:
        return
    roles = session.scalar(select(User.roles).where(User.username == actor, User.active.is_(True)))
    if not DESIGNER_ROLES & set(roles or ()):
        raise NotAllowed(f"only designers and admins may {what}")


def workflow_problems(key: str, document: Any, refs: References | None) -> list[Problem]:
    """Check a workflow draft: the checker against `refs`, and its key against the one it
    is saved as."""
    return _checked(key, document, refs)[0]


def _checked(key: str, document: Any, refs: References | None) -> tuple[list[Problem], Flow | None]:
    """Check a workflow draft as `workflow_problems` does, with the dataflow it was checked
    with (None: the schema refused it), so the fields at each step are read off the same."""
    problems, flow = check_workflow_flow(document, refs)
    return sorted(problems + _key_problems(key, document)), flow


def _key_problems(key: str, document: Any) -> list[Problem]:
    if isinstance(document, dict) and document.get("key") not in (None, key):
        return [Problem("/key", f"the workflow is saved as '{key}'; its key must stay '{key}'")]
    return []


def _plan(session: Session, key: str, revision: int | None, by: str | None) -> tuple[int, Checked]:
    """Check the saved draft for publishing: its revision and what to write."""
    require_designer(session, by, "publish workflows")
    draft = load_draft(session, key, kind=KIND)
    if draft.revision == 0 and draft.latest_version == 0:
        raise NotFound(f"there is no workflow '{key}' to publish; create it first")
    require_revision(draft, revision)
    document = draft.document
    if not isinstance(document, dict):
        raise InvalidInput("nothing was published: the draft is not a JSON object")
    mismatch = _key_problems(key, document)
    if document.get("kind") != KIND:
        # Published as what it says it is: a "form" here would replace a published form.
        mismatch.append(
            Problem("/kind", "a workflow draft must stay a workflow: 'kind' must be 'workflow'")
        )
    if mismatch:
        raise InvalidInput("nothing was published; fix the problems first", mismatch)
    return draft.revision, check_documents(session, [draft_document(document)])


#: The step ids of published versions, by definition id and version (the latest few), for
#: each database a process opens (its engine): ids mean nothing in another one.
_kept_step_ids: WeakKeyDictionary[Engine, dict[tuple[int, int], frozenset[str]]] = (
    WeakKeyDictionary()
)
KEPT_STEP_IDS = 16


def _latest_step_ids(session: Session, key: str) -> frozenset[str]:
    """Return the step ids of the latest published version (none when unpublished)."""
    definition = definition_row(session, key, kind=KIND)
    if definition is None or not definition.latest_version:
        return frozenset()
    at = (definition.id, definition.latest_version)
    kept = _kept_step_ids.setdefault(session.get_bind().engine, {})
    if at not in kept:
        while len(kept) >= KEPT_STEP_IDS:
            kept.pop(next(iter(kept)))
        kept[at] = frozenset(_step_ids(latest_content(session, definition)))
    return kept[at]


def _step_ids(document: Any) -> set[str]:
    """Return the ids of a workflow's steps, those inside parallel branches too."""
    found: set[str] = set()
    steps = document.get("steps") if isinstance(document, dict) else None
    if not isinstance(steps, dict):
        return found
    for step_id, step in steps.items():
        found.add(step_id)
        branches = step.get("branches") if isinstance(step, dict) else None
        if isinstance(branches, dict):
            for branch in branches.values():
                found |= _step_ids(branch)
    return found


def _from_form(session: Session, key: str, form: str) -> dict[str, Any]:
    """Return a new workflow around a published form; NotFound when it is not published."""
    definition = definition_row(session, form, kind="form")
    content = latest_content(session, definition) if definition is not None else None
    if content is None:
        raise NotFound(f"there is no published form '{form}'; publish it first")
    group = session.scalar(select(Group.key).order_by(Group.key).limit(1))
    return from_form(key, content, group)
