"""Drafts of forms (and workflows) being designed, and their publishing as immutable versions.

A draft lives in `definitions.draft` as an envelope: `{"format", "revision",
"document", "saved_at", "saved_by"}`. The document is stored as sent, sound or not,
so a designer never loses work; `revision` grows by one with every save and a save
must name the revision it started from (optimistic concurrency: two browsers on the
same definition cannot silently overwrite each other). The storage of drafts serves
every `kind` of definition (`engine.service.workflow_drafts` builds the workflow
designer's use cases on it). Publishing a form checks the draft, warns
when a published workflow would lose a field it reads, and freezes a version through
the same checks and write `flowdesk load` takes (`engine.service.definitions`): the
checks in a reading session, then a short write that only compares and inserts.

`Drafts` is what the designer calls, each method one read or one unit of work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.catalog import Document
from engine.core.checker import check_workflow
from engine.core.errors import Problem
from engine.service.definitions import (
    CHECK_TRIES,
    CatalogChanged,
    Checked,
    Published,
    check_documents,
    content_hash,
    published_catalog,
    write_documents,
)
from engine.service.errors import Conflict, InvalidInput, NotFound, TooLarge
from engine.settings import DRAFT_MAX_BYTES
from engine.store.definitions import Definition, DefinitionVersion
from forms.checker import check_form
from forms.definition import FORMAT

if TYPE_CHECKING:
    from engine.service.shell import Shell

#: The format of the draft envelope kept in `definitions.draft`.
DRAFT_FORMAT = 1


@dataclass(frozen=True, slots=True)
class Draft:
    """A definition as it is being designed; `revision` 0 means nothing was saved yet."""

    key: str
    document: Any
    revision: int
    latest_version: int
    saved_at: datetime | None = None
    saved_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "document": self.document,
            "revision": self.revision,
            "latest_version": self.latest_version,
            "saved_at": self.saved_at.isoformat() if self.saved_at else None,
            "saved_by": self.saved_by,
        }


@dataclass(frozen=True, slots=True)
class WorkflowWarning:
    """A published workflow that would break: where in it, and why."""

    workflow: str
    pointer: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"workflow": self.workflow, "pointer": self.pointer, "message": self.message}


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    """What a publish did: the version (None: nothing published) and the warnings it saw."""

    version: int | None
    created: bool = False
    warnings: list[WorkflowWarning] = field(default_factory=list)
    #: The form's latest version after the publish.
    latest: int | None = None
    #: An older version with the same content, which the new one brings back.
    same_as: int | None = None

    def in_words(self) -> str:
        """Say what the publish did, as a designer reads it."""
        if self.version is None:
            return (
                "published workflows use fields this version renames or removes; "
                "publish again with confirm to go ahead"
            )
        if self.created:
            back = f": the same as version {self.same_as}, brought back" if self.same_as else ""
            return f"Version {self.version} is published{back}."
        if self.latest is not None and self.latest != self.version:
            return (
                f"Nothing was published: the draft is identical to version {self.version}; "
                f"the latest stays version {self.latest}."
            )
        return f"Nothing was published: the draft is identical to version {self.version}."


class Drafts:
    """The form designer's use cases: one read or one unit of work per call."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell

    def forms(self) -> list[dict[str, Any]]:
        """Return every form, published or only drafted."""
        return self.shell.read(list_forms)

    def draft(self, key: str) -> Draft:
        """Return the draft of a form (else its latest version, else a blank form)."""
        return self.shell.read(lambda session: load_draft(session, key))

    def save(self, key: str, document: Any, revision: int, by: str | None) -> Draft:
        """Store a draft as sent, if it starts from the stored revision (Conflict if stale)."""
        return self.shell.write(
            "draft", lambda session, at: save_draft(session, key, document, revision, at, by)
        )

    def check(self, key: str, document: Any) -> tuple[list[Problem], list[WorkflowWarning]]:
        """Check a draft: its own problems, else what it would break in published workflows."""
        problems = form_problems(key, document)
        if problems:
            return problems, []
        return [], self.shell.read(lambda session: workflow_warnings(session, document))

    def versions(self, key: str) -> list[dict[str, Any]]:
        """Return the published versions of a form, oldest first."""
        return self.shell.read(lambda session: versions(session, key))

    def documents(self, key: str, *which: int | None) -> list[Any]:
        """Return versions of a form (None: its draft), read together, for a diff."""
        return self.shell.read(lambda session: [draft_or_version(session, key, w) for w in which])

    def publish(
        self, key: str, by: str | None, *, revision: int | None, confirm: bool
    ) -> PublishOutcome:
        """Publish the saved draft (if still at `revision`); warnings need `confirm` to pass.

        The checks run in a reading session; the write only makes sure the draft and
        what is published are what was checked, and freezes the version.
        """
        for _ in range(CHECK_TRIES):
            plan = self.shell.read(lambda session: _plan(session, key, revision, confirm=confirm))
            if plan.checked is None:
                return PublishOutcome(None, warnings=plan.warnings)
            try:
                published = self._write(key, plan.revision, plan.checked, by)
            except CatalogChanged:
                continue
            return PublishOutcome(
                published.version,
                published.created,
                plan.warnings,
                published.latest,
                published.same_as,
            )
        raise Conflict("what is published kept changing while the draft was checked; try again")

    def _write(self, key: str, revision: int, checked: Checked, by: str | None) -> Published:
        return self.shell.write(
            "publish",
            lambda session, at: publish_checked(session, key, revision, checked, at, by),
        )


@dataclass(frozen=True, slots=True)
class _Plan:
    """A draft checked for publishing: its revision, warnings, and what to write (None: wait)."""

    revision: int
    warnings: list[WorkflowWarning]
    checked: Checked | None


def _plan(session: Session, key: str, revision: int | None, *, confirm: bool) -> _Plan:
    draft = load_draft(session, key)
    require_revision(draft, revision)
    problems = form_problems(key, draft.document)
    if problems:
        raise InvalidInput("nothing was published; fix the problems first", problems)
    warnings = workflow_warnings(session, draft.document)
    if warnings and not confirm:
        return _Plan(draft.revision, warnings, None)
    checked = check_documents(session, [draft_document(draft.document)])
    return _Plan(draft.revision, warnings, checked)


def require_revision(draft: Draft, revision: int | None) -> None:
    """Refuse to publish a draft that changed since the revision the designer saw."""
    if revision is not None and revision != draft.revision:
        raise Conflict(f"the draft changed meanwhile (revision {draft.revision}); reload it first")


def publish_checked(
    session: Session,
    key: str,
    revision: int,
    checked: Checked,
    at: datetime,
    by: str | None,
    *,
    kind: str = "form",
) -> Published:
    """Freeze the checked draft, if it is still the draft at `revision`."""
    stored = load_draft(session, key, kind=kind).revision
    if stored != revision:
        raise Conflict(f"the draft changed meanwhile (revision {stored}); reload it first")
    return write_documents(session, checked, at, by, latest_only=True)[0]


def draft_or_version(session: Session, key: str, version: int | None, kind: str = "form") -> Any:
    """Return a definition's draft (`version` None) or one of its published versions."""
    if version is None:
        return load_draft(session, key, kind=kind).document
    return version_content(session, key, version, kind=kind)


def blank_form(key: str) -> dict[str, Any]:
    """Return the document a new form starts from."""
    return {"kind": "form", "format": FORMAT, "key": key, "title": "", "fields": []}


def blank_workflow(key: str) -> dict[str, Any]:
    """Return the document a new workflow starts from: one step, the end."""
    return {
        "kind": "workflow",
        "format": 1,
        "key": key,
        "title": key.replace("-", " ").replace("_", " ").capitalize(),
        "first": "done",
        "steps": {"done": {"type": "end"}},
    }


#: Kind -> the document a new definition of that kind starts from.
BLANK = {"form": blank_form, "workflow": blank_workflow}


def definition_row(
    session: Session, key: str, *, kind: str = "form", lock: bool = False
) -> Definition | None:
    """Return the row of a definition (drafted or published), or None."""
    query = select(Definition).where(Definition.kind == kind, Definition.key == key)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def latest_content(session: Session, definition: Definition) -> dict[str, Any] | None:
    """Return the content of a definition's latest version (None: not published)."""
    return session.scalar(
        select(DefinitionVersion.content).where(
            DefinitionVersion.definition_id == definition.id,
            DefinitionVersion.version == definition.latest_version,
        )
    )


def load_draft(session: Session, key: str, *, kind: str = "form") -> Draft:
    """Return the draft of a definition; else its latest version; else a blank one (revision 0)."""
    definition = definition_row(session, key, kind=kind)
    blank = BLANK[kind]
    if definition is None:
        return Draft(key, blank(key), 0, 0)
    envelope = definition.draft
    if envelope:
        return Draft(
            key,
            envelope["document"],
            envelope["revision"],
            definition.latest_version,
            datetime.fromisoformat(envelope["saved_at"]),
            envelope.get("saved_by"),
        )
    content = latest_content(session, definition)
    return Draft(key, content or blank(key), 0, definition.latest_version)


def save_draft(
    session: Session,
    key: str,
    document: Any,
    revision: int,
    at: datetime,
    by: str | None,
    *,
    kind: str = "form",
) -> Draft:
    """Store a draft as sent, if `revision` is the one stored; Conflict when it is stale."""
    size = len(json.dumps(document, separators=(",", ":")).encode())
    if size > DRAFT_MAX_BYTES:
        raise TooLarge(f"the draft is {size} bytes; a draft may be at most {DRAFT_MAX_BYTES}")
    definition = definition_row(session, key, kind=kind, lock=True)
    if definition is None:
        definition = Definition(kind=kind, key=key, title="", updated_at=at)
        session.add(definition)
        try:
            session.flush()
        except IntegrityError:  # another first save of the same new definition won the race
            raise Conflict(
                f"the {kind} was created elsewhere meanwhile; reload it before saving again"
            ) from None
    stored = definition.draft["revision"] if definition.draft else 0
    if revision != stored:
        raise Conflict(
            f"the draft was saved elsewhere meanwhile (revision {stored}, not {revision}); "
            "reload it before saving again",
            [Problem("/revision", str(stored))],
        )
    definition.draft = {
        "format": DRAFT_FORMAT,
        "revision": stored + 1,
        "document": document,
        "saved_at": at.isoformat(),
        "saved_by": by,
    }
    if definition.latest_version == 0 and isinstance(document, dict):
        definition.title = str(document.get("title", ""))[:500]
    definition.updated_at = at
    session.flush()
    return Draft(key, document, stored + 1, definition.latest_version, at, by)


def list_forms(session: Session) -> list[dict[str, Any]]:
    """Return every form, published or only drafted: key, title, latest version, draft state."""
    return list_drafts(session, "form")


def list_drafts(session: Session, kind: str) -> list[dict[str, Any]]:
    """Return every definition of a kind, published or only drafted, with its draft state."""
    found = []
    for definition in session.scalars(
        select(Definition).where(Definition.kind == kind).order_by(Definition.key)
    ):
        envelope = definition.draft or {}
        changed = bool(envelope)
        if envelope and definition.latest_version:
            latest = latest_content(session, definition) or {}
            changed = content_hash(latest) != _hash_of(envelope["document"])
        found.append(
            {
                "key": definition.key,
                "title": definition.title,
                "latest_version": definition.latest_version,
                "draft_revision": envelope.get("revision", 0),
                "unpublished_changes": changed,
            }
        )
    return found


def _hash_of(document: Any) -> str:
    return content_hash(document) if isinstance(document, dict) else ""


def versions(session: Session, key: str, kind: str = "form") -> list[dict[str, Any]]:
    """Return the published versions of a definition, oldest first (none if never saved)."""
    definition = definition_row(session, key, kind=kind)
    if definition is None:
        return []
    rows = session.execute(
        select(
            DefinitionVersion.version,
            DefinitionVersion.published_at,
            DefinitionVersion.published_by,
            DefinitionVersion.content_hash,
        )
        .where(DefinitionVersion.definition_id == definition.id)
        .order_by(DefinitionVersion.version)
    ).all()
    return [
        {"version": v, "published_at": at.isoformat(), "published_by": by, "content_hash": h}
        for v, at, by, h in rows
    ]


def version_content(
    session: Session, key: str, version: int, *, kind: str = "form"
) -> dict[str, Any]:
    """Return one published version of a definition; NotFound when there is none."""
    content = session.scalar(
        select(DefinitionVersion.content)
        .join(Definition, Definition.id == DefinitionVersion.definition_id)
        .where(
            Definition.kind == kind,
            Definition.key == key,
            DefinitionVersion.version == version,
        )
    )
    if content is None:
        raise NotFound(f"the {kind} '{key}' has no version {version}")
    return dict(content)


def form_problems(key: str, document: Any) -> list[Problem]:
    """Check a draft on its own: the form checker, and its key against the one it is saved as."""
    problems = check_form(document)
    if isinstance(document, dict) and document.get("key") not in (None, key):
        problems.append(Problem("/key", f"the form is saved as '{key}'; its key must stay '{key}'"))
    return sorted(problems)


def workflow_warnings(session: Session, document: dict[str, Any]) -> list[WorkflowWarning]:
    """Return what a new form version would break in published workflows (conditions, `show`)."""
    before = published_catalog(session)
    after = published_catalog(session, [draft_document(document)])
    references_before, references_after = before.references(), after.references()
    warnings = []
    for workflow in before.of_kind("workflow"):
        had = set(check_workflow(workflow.content, references_before))
        for problem in check_workflow(workflow.content, references_after):
            if problem not in had:
                key = workflow.key or ""
                warnings.append(WorkflowWarning(key, problem.pointer, problem.message))
    return warnings


def draft_document(document: dict[str, Any]) -> Document:
    """Return a draft as a document of the catalog, named for the problems that cite it."""
    kind = document.get("kind") if document.get("kind") in BLANK else "form"
    return Document(Path(f"<draft {kind} {document.get('key')}>"), document)
