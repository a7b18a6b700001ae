"""A catalog of workflow, form and calendar documents read from files, checked together.

`flowdesk check` and `flowdesk load` read folders of JSON documents. A workflow
refers to forms, calendars and other workflows by key, so documents are
checked as a set: every reference must be found among them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from engine.core.calendars import check_calendar
from engine.core.checker import References, check_workflow, child_of
from engine.core.checker.jsontext import load_json
from engine.core.checker.outcomes import form_field_outcomes
from engine.core.checker.start import rules_reading_outcome
from engine.core.errors import Problem
from engine.core.fields import FieldInfo, type_of_values
from forms.checker import check_form
from forms.definition import Form
from forms.validator import document_problems

__all__ = [
    "KINDS", "Catalog", "Document", "FileProblem", "json_files", "load_json", "neighbours",
    "parse_document", "read_document", "shipped_templates",
]  # fmt: skip

KINDS = ("workflow", "form", "calendar")
#: The mail templates that ship with Flowdesk (`engine.jobs.mail.TEMPLATES`).
SHIPPED_TEMPLATES = Path(__file__).with_name("jobs") / "templates"


@dataclass(frozen=True, slots=True)
class FileProblem:
    """A problem in one file: prints as `FILE:/json/pointer: message`."""

    path: Path
    problem: Problem

    def __str__(self) -> str:
        return f"{self.path}:{self.problem}"


@dataclass(slots=True)
class Document:
    """One JSON document read from a file; `content` is None when it could not be read.

    `problems` are those found while reading it: text that is not JSON (and no
    content), or a key given twice in an object (the content is still checked).
    """

    path: Path
    content: Any
    problems: list[Problem] = field(default_factory=list)

    @property
    def kind(self) -> str | None:
        kind = self.content.get("kind") if isinstance(self.content, dict) else None
        return kind if kind in KINDS else None

    @property
    def key(self) -> str | None:
        key = self.content.get("key") if isinstance(self.content, dict) else None
        return key if isinstance(key, str) else None


def read_document(path: Path) -> Document:
    """Read a JSON file; a file that is not JSON comes back with a problem, not an error."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return Document(path, None, [Problem("", f"the file cannot be read: {exc}")])
    return parse_document(path, text)


def parse_document(path: Path, text: str) -> Document:
    """Parse a document's JSON text; text that is not JSON, or that gives a key twice in
    an object, comes back with its problems."""
    content, problems = load_json(text)
    return Document(path, content, problems)


def json_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Yield the JSON files named, and those under the folders named, each once, in order."""
    seen: set[Path] = set()
    for path in paths:
        found = sorted(_under(path)) if path.is_dir() else [path]
        for file in found:
            if file.resolve() not in seen:
                seen.add(file.resolve())
                yield file


def _under(folder: Path) -> Iterator[Path]:
    # Hidden folders (.git, .venv) never hold documents, and can be huge.
    for path in folder.rglob("*.json"):
        relative = path.relative_to(folder).parts
        if path.is_file() and not any(part.startswith(".") for part in relative):
            yield path


def neighbours(file: Path) -> list[Path]:
    """Return the documents a single file is checked with: those `flowdesk load` of its
    folder would read (every folder under it, hidden ones aside), so a file checked alone
    finds what it names where loading its folder would (`forms/`, `hr/forms/`…)."""
    return sorted(_under(file.parent))


class Catalog:
    """A set of documents that may refer to one another by key.

    `groups` and `users` are the names that exist where the documents are to run (the
    active groups and users of the database, at publish time); None leaves them unchecked.
    """

    def __init__(
        self,
        documents: list[Document],
        *,
        groups: Iterable[str] | None = None,
        users: Iterable[str] | None = None,
    ) -> None:
        self.documents = documents
        self.groups = None if groups is None else frozenset(groups)
        self.users = None if users is None else frozenset(users)

    @classmethod
    def read(cls, paths: Iterable[Path]) -> Catalog:
        """Read every JSON document under the given files and folders."""
        return cls([read_document(path) for path in json_files(paths)])

    def of_kind(self, kind: str) -> list[Document]:
        return [doc for doc in self.documents if doc.kind == kind]

    def references(self) -> References:
        """Return what the workflows here may refer to: forms, calendars, workflows, people."""
        forms: dict[str, tuple[FieldInfo, ...] | None] = {}
        outcome_rules: dict[str, tuple[str, ...]] = {}
        for doc in self.of_kind("form"):
            if not doc.key or doc.key in forms:
                continue  # the first document with a key is the one used (see `check`)
            if document_problems(doc.content):
                forms[doc.key] = None  # known, but unreadable: its own problems are reported
            else:
                forms[doc.key] = form_fields(Form.from_document(doc.content))
                outcome_rules[doc.key] = rules_reading_outcome(doc.content)
        children = {}
        for doc in self.of_kind("workflow"):
            if doc.key and doc.key not in children:
                children[doc.key] = child_of(doc.content, forms)
        return References(
            forms=forms,
            calendars=frozenset(d.key for d in self.of_kind("calendar") if d.key),
            workflows=frozenset(children),
            children=children,
            groups=self.groups,
            users=self.users,
            outcome_rules=outcome_rules,
            templates=shipped_templates(),
        )

    def named_groups(self) -> set[str]:
        """Return every group the workflows here name as it is written (tables included)."""
        named: dict[str, set[str]] = {}
        references = dataclasses.replace(self.references(), groups=frozenset(), named=named)
        for doc in self.of_kind("workflow"):
            if isinstance(doc.content, dict):
                check_workflow(doc.content, references)
        return named.get("group", set())

    def check(self, only: Iterable[Path] | None = None) -> list[FileProblem]:
        """Check every document (or only those read from `only`) against the whole set."""
        wanted = None if only is None else {p.resolve() for p in json_files(only)}
        references = self.references()
        problems: list[FileProblem] = []
        seen: dict[tuple[str, str], Path] = {}
        for doc in self.documents:
            if wanted is not None and doc.path.resolve() not in wanted:
                continue
            found = self._problems_of(doc, references)
            if doc.kind and doc.key:
                first = seen.setdefault((doc.kind, doc.key), doc.path)
                if first != doc.path:
                    found.append(
                        Problem(
                            "/key", f"another {doc.kind} already has the key '{doc.key}' ({first})"
                        )
                    )
            problems.extend(FileProblem(doc.path, problem) for problem in found)
        if wanted is not None:
            problems += self._named_forms_problems(wanted, references)
        return problems

    def _named_forms_problems(self, wanted: set[Path], references: References) -> list[FileProblem]:
        """The problems of the forms the checked workflows use, read beside them: `load`
        would refuse them, and a form it cannot read hides what its fields would show."""
        named = {
            key
            for doc in self.of_kind("workflow")
            if doc.path.resolve() in wanted and isinstance(doc.content, dict)
            for key in _forms_named(doc.content)
        }
        problems: list[FileProblem] = []
        used: set[str] = set()
        for doc in self.of_kind("form"):
            if doc.key not in named or doc.key in used or doc.path.resolve() in wanted:
                continue
            used.add(doc.key)  # the first document with a key is the one used
            found = self._problems_of(doc, references)
            problems.extend(FileProblem(doc.path, problem) for problem in found)
        return problems

    def _problems_of(self, doc: Document, references: References) -> list[Problem]:
        """A document's own problems: as read, then as checked against the others."""
        found = list(doc.problems)
        if doc.content is not None:
            found += self._check(doc, references)
        return found

    @staticmethod
    def _check(doc: Document, references: References) -> list[Problem]:
        if doc.kind == "workflow":
            return check_workflow(doc.content, references)
        if doc.kind == "form":
            return check_form(doc.content)
        if doc.kind == "calendar":
            return check_calendar(doc.content)
        kinds = ", ".join(KINDS)
        if not isinstance(doc.content, dict):
            return [Problem("", f"a document must be a JSON object with a 'kind' ({kinds})")]
        return [Problem("/kind", f"say what this document is: 'kind' must be one of {kinds}")]


def _forms_named(workflow: dict[str, Any]) -> set[str]:
    """The keys of the forms a workflow document names: its start form and its steps'."""
    start = workflow.get("start")
    steps = workflow.get("steps")
    found = [start.get("form") if isinstance(start, dict) else None]
    if isinstance(steps, dict):
        found += [step.get("form") for step in steps.values() if isinstance(step, dict)]
    return {key for key in found if isinstance(key, str)}


@lru_cache(maxsize=1)
def shipped_templates(folder: Path = SHIPPED_TEMPLATES) -> frozenset[str]:
    """Return the keys of the mail templates that ship with Flowdesk: those with a subject
    and a body, which a `notify` may name."""
    return frozenset(
        path.name.removesuffix(".subject.txt")
        for path in folder.glob("*.subject.txt")
        if path.with_name(path.name.replace(".subject.txt", ".body.txt")).is_file()
    )


def form_fields(form: Form) -> tuple[FieldInfo, ...]:
    """Describe a form's fields for the workflow checker: kinds, options, and which are required.

    A field counts as required when the form always asks for it: `required`, not hidden
    by a `visible_if` and with no `default` to stand in. Which outcomes surely show and
    fill it in is worked out from its rules and default (see `form_field_outcomes`). A
    choice whose options are all numbers holds a number (all dates: a date).
    """
    infos = []
    reads_outcome = not any(spec["key"] == "outcome" for spec in form.fields)
    for info in form.field_infos():
        spec = form.field(info.key)
        required = spec.get("required") is True and not {"visible_if", "default"} & set(spec)
        kind = info.type
        if info.options and kind == "string":
            kind = type_of_values(info.options)
        choice = spec["type"] in ("select", "radio")
        shown, filled = form_field_outcomes(spec, reads_outcome)
        infos.append(
            dataclasses.replace(
                info,
                type=kind,
                required=required,
                choice=choice,
                shown=shown,
                filled=filled,
                form_type=spec["type"],
            )
        )
    return tuple(infos)
