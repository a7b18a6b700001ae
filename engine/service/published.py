"""The latest published workflows and forms, as the web app reads them on every request.

A look-up of "the latest version of X" is kept for a few seconds: publishing a new
version reaches every web process within `LATEST_REFRESH_S`. A version itself
never changes, so its parsed form is kept for good.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select

from engine.core.definition import Workflow
from engine.core.starters import is_public
from engine.core.values import is_row_id
from engine.service.errors import NotFound
from engine.service.submissions import people_errors, still_pinnable
from engine.settings import LATEST_REFRESH_S
from engine.store.database import Database
from engine.store.definitions import Definition, DefinitionVersion
from engine.store.directory import Directory, superseded_at
from forms.definition import Form
from forms.validation import Submission, validate


@dataclass(frozen=True, slots=True)
class PublicStart:
    """A workflow anyone may start, with the form they fill in to start it."""

    workflow: Workflow
    form: Form
    form_version: int


class Published:
    """Read-only, briefly cached access to what is published."""

    def __init__(self, database: Database, clock: Callable[[], float] = time.monotonic) -> None:
        self.database = database
        self._clock = clock
        self._latest: dict[tuple[str, str], tuple[float, int | None]] = {}
        self._versions: dict[int, Any] = {}
        self._public: tuple[float, list[tuple[str, str, str]]] | None = None
        self._workflows: tuple[float, list[tuple[str, str]]] | None = None

    def _latest_version(self, kind: str, key: str) -> int | None:
        now = self._clock()
        cached = self._latest.get((kind, key))
        if cached is None or now - cached[0] > LATEST_REFRESH_S:
            with self.database.reading() as session:
                version_id = session.scalar(
                    select(DefinitionVersion.id)
                    .join(Definition, Definition.id == DefinitionVersion.definition_id)
                    .where(Definition.kind == kind, Definition.key == key)
                    .order_by(DefinitionVersion.version.desc())
                    .limit(1)
                )
            if version_id is None:  # not kept: anyone may ask for any key, and of many
                self._latest.pop((kind, key), None)
                return None
            cached = self._latest[(kind, key)] = (now, version_id)
        return cached[1]

    def _content(self, version_id: int) -> Mapping[str, Any]:
        with self.database.reading() as session:
            content = session.scalar(
                select(DefinitionVersion.content).where(DefinitionVersion.id == version_id)
            )
        if content is None:
            raise NotFound(f"there is no version {version_id}")
        return dict(content)

    def form(self, key: str) -> tuple[int, Form]:
        """Return the id and parsed form of a form's latest version."""
        version_id = self._latest_version("form", key)
        if version_id is None:
            raise NotFound(f"there is no published form '{key}'")
        form = self._versions.get(version_id)
        if form is None:
            form = self._versions[version_id] = Form.from_document(self._content(version_id))
        return version_id, form

    def pinnable(self, version_id: int, at: datetime) -> bool:
        """Tell whether a page that showed this form version is still checked by it
        (`submissions.still_pinnable`: the start command decides the same)."""
        with self.database.reading() as session:
            superseded = superseded_at(session.connection(), version_id)
        return still_pinnable(superseded, at)

    def form_version(self, key: str, version_id: int) -> Form:
        """Return one published version of a form (NotFound if it is not a version of `key`)."""
        if not is_row_id(version_id):
            raise NotFound(f"form '{key}' has no version {version_id}")
        form = self._versions.get(version_id)
        if form is None:
            with self.database.reading() as session:
                content = session.scalar(
                    select(DefinitionVersion.content)
                    .join(Definition, Definition.id == DefinitionVersion.definition_id)
                    .where(
                        DefinitionVersion.id == version_id,
                        Definition.kind == "form",
                        Definition.key == key,
                    )
                )
            if content is None:
                raise NotFound(f"form '{key}' has no version {version_id}")
            form = self._versions[version_id] = Form.from_document(dict(content))
        if not isinstance(form, Form) or form.key != key:
            raise NotFound(f"form '{key}' has no version {version_id}")
        return form

    def workflow(self, key: str) -> Workflow:
        """Return the parsed latest version of a workflow."""
        version_id = self._latest_version("workflow", key)
        if version_id is None:
            raise NotFound(f"there is no published workflow '{key}'")
        workflow = self._versions.get(version_id)
        if workflow is None:
            workflow = Workflow.from_document(self._content(version_id))
            self._versions[version_id] = workflow
        return workflow

    def public_start(self, workflow_key: str) -> PublicStart:
        """Return a workflow anyone may start, with its start form; NotFound for any other."""
        workflow = self.workflow(workflow_key)
        start = workflow.start
        if not is_public(start):
            raise NotFound(f"there is no public form for '{workflow_key}'")
        form_version, form = self.form(start["form"])
        return PublicStart(workflow, form, form_version)

    def workflows(self) -> list[tuple[str, str]]:
        """Return the key and title of every published workflow, by title."""
        now = self._clock()
        if self._workflows is None or now - self._workflows[0] > LATEST_REFRESH_S:
            with self.database.reading() as session:
                rows = session.execute(
                    select(Definition.key, Definition.title)
                    .where(Definition.kind == "workflow", Definition.latest_version > 0)
                    .order_by(Definition.title)
                )
                self._workflows = (now, [(key, title) for key, title in rows])
        return self._workflows[1]

    def requesters_words(self, workflow: Workflow) -> str:
        """What a workflow's list of what to ask for says of it: its start form's
        `description`, written for requesters (the workflow's own is for the people who
        maintain it, and was shown on the public portal)."""
        key = workflow.start.get("form")
        if not key:
            return ""
        try:
            return str(self.form(key)[1].doc.get("description", ""))
        except NotFound:
            return ""

    def public_forms(self) -> list[tuple[str, str, str]]:
        """Return (workflow key, title, description) of every workflow anyone may start: the
        description is its start form's (`requesters_words`)."""
        now = self._clock()
        if self._public is None or now - self._public[0] > LATEST_REFRESH_S:
            found = []
            listed = self.workflows()
            for key, _ in listed:
                workflow = self.workflow(key)
                if is_public(workflow.start):
                    found.append((key, workflow.title, self.requesters_words(workflow)))
            # As old as the oldest look-up it was made of: kept no longer than they are.
            read = [self._workflows[0] if self._workflows else now]
            read += [self._latest.get(("workflow", key), (now, None))[0] for key, _ in listed]
            forms = {str(self.workflow(key).start.get("form")) for key, _, _ in found}
            read += [self._latest.get(("form", form), (now, None))[0] for form in forms]
            self._public = (min(read), found)
        return self._public[1]

    def public_form_keys(self) -> set[str]:
        """Return the keys of the forms anyone may fill in (the start forms of public flows)."""
        return {self.workflow(key).start["form"] for key, _, _ in self.public_forms()}

    def answer(self, form: Form, data: Mapping[str, Any]) -> Submission:
        """Check an answer to a form as a start with it would, keeping nothing: the form's
        own rules, then the people and services it names, which only the database knows."""
        result = validate(form, data)
        if not result.ok or not form.kinds & {"user", "service"}:
            return result
        with self.database.reading() as session:
            directory = Directory(session.connection(), row_locks=False)
            errors = people_errors(directory, form, result.data)
        return replace(result, errors=tuple(errors)) if errors else result
