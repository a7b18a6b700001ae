"""What people send with a start or a task, checked where every door passes: in the commands.

A start's data is checked against the start form (the version the requester's page
showed, else the latest); a task's data against the form version the task opened
with, under the step's field permissions (`fields`: editable, required, read_only,
hidden). Fields that name people must name active users. Web pages, the REST API and
the command line all reach these checks through the commands, so they all refuse the
same input with the same words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from engine.core.conditions import field_value
from engine.core.errors import Problem
from engine.core.steps.human import decision_reason
from engine.service.errors import InvalidInput, NotFound
from engine.store.directory import Directory
from forms.definition import Form
from forms.errors import FieldError
from forms.validation import validate

#: What a step may let the assignee do with a field of its form; editable unless it says.
PERMISSIONS = ("editable", "required", "read_only", "hidden")

#: Step types whose outcomes are a decision: rejecting one needs a reason.
DECISIONS = ("approval", "review")

REJECT_REASON = "Say why you reject: write a comment."


class InvalidData(InvalidInput):
    """The data does not fill in its form; `fields` says what is wrong with each field."""

    def __init__(self, message: str, fields: Iterable[FieldError]) -> None:
        self.fields = tuple(fields)
        # A lone problem that is the message itself ("Say why you reject") is not said twice.
        alone = len(self.fields) == 1 and self.fields[0].message == message
        said = (
            ""
            if alone
            else "; ".join(
                f"{error.field or 'the form'}: {error.message}" for error in self.fields[:3]
            )
        )
        more = f" (and {len(self.fields) - 3} more)" if len(self.fields) > 3 else ""
        super().__init__(
            f"{message}: {said}{more}" if said else message,
            [Problem(error.pointer, error.message) for error in self.fields],
            headline=message,
        )


@dataclass(frozen=True, slots=True)
class StepForm:
    """A form as one step lets it be filled in; the fields it keeps from being changed."""

    form: Form
    read_only: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()


_step_forms: WeakKeyDictionary[Form, dict[tuple[tuple[str, str], ...], StepForm]] = (
    WeakKeyDictionary()
)


def step_form(form: Form, permissions: Mapping[str, str] | None) -> StepForm:
    """Return the form a step's assignee fills in: read-only and hidden fields taken out,
    required ones made required (built once per form version and permissions)."""
    if not permissions:
        return StepForm(form)
    key = tuple(sorted(permissions.items()))
    cache = _step_forms.setdefault(form, {})
    found = cache.get(key)
    if found is None:
        found = cache[key] = _build(form, permissions)
    return found


def _build(form: Form, permissions: Mapping[str, str]) -> StepForm:
    def keep(fields: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        kept = []
        for field in fields:
            rule = permissions.get(field.get("key", ""), "editable")
            if rule in ("read_only", "hidden"):
                continue
            kept.append({**field, "required": True} if rule == "required" else dict(field))
        return kept

    doc = dict(form.doc)
    if "pages" in doc:
        pages = [{**page, "fields": keep(page["fields"])} for page in doc["pages"]]
        doc["pages"] = [page for page in pages if page["fields"]]
    else:
        doc["fields"] = keep(doc.get("fields", ()))
    keys = {field["key"] for field in form.fields}
    read_only = tuple(k for k, rule in permissions.items() if rule == "read_only" and k in keys)
    hidden = tuple(k for k, rule in permissions.items() if rule == "hidden" and k in keys)
    return StepForm(Form.from_document(doc), read_only, hidden)


def check(
    step: StepForm, data: Mapping[str, Any], *, context: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Return the cleaned data of a submission, or raise `InvalidData` saying what is wrong."""
    errors = [
        FieldError(key, f"'{key}' cannot be changed at this step")
        for key in (*step.read_only, *step.hidden)
        if key in data
    ]
    result = validate(step.form, data, context=context)
    errors += [error for error in result.errors if error.field not in step.read_only + step.hidden]
    if errors:
        raise InvalidData("some of the data does not fill in the form", errors)
    return result.data


def task_data(
    form: Form | None, step: Mapping[str, Any], data: Mapping[str, Any], outcome: str
) -> dict[str, Any]:
    """Return what a task's data puts into the instance, or raise `InvalidData`.

    The data fills in the task's form under the step's field permissions, its rules
    seeing the outcome chosen; defaults fill in what is left empty. A step without a
    form takes no data.
    """
    if form is None:
        if data:
            fields = [FieldError(name, f"'{name}' is not a field of this step") for name in data]
            raise InvalidData("this step has no form, so it takes no data", fields)
        return {}
    return check(step_form(form, step.get("fields")), data, context={"outcome": outcome})


#: What a field naming a person who cannot sign in, or a service not in the catalogue, is told.
NO_USER = "There is no active user '{}'; choose someone who can sign in"
NO_SERVICE = "There is no service '{}' in the catalogue; choose one it has"


def people_errors(
    directory: Directory,
    form: Form,
    data: Mapping[str, Any],
    kept: Mapping[str, Any] | None = None,
) -> list[FieldError]:
    """Return an error for each field that names a person who is not an active user, or a
    service the catalogue does not hold: what only the database knows.

    `kept` is what the instance holds already: a service it names there, at the same place,
    stands (removed from the catalogue since, its incidents keep its key, and a task's form
    shows it as it was). A person does not: work may still go to them."""
    errors = []
    for kind, existing, words in (
        ("user", directory.active_users, "no active user '{}'; choose someone who can sign in"),
        (
            "service",
            directory.existing_services,
            "no service '{}' in the catalogue; choose one it has",
        ),
    ):
        named = _named(form, data, kind)
        there = existing(list(named)) if named else set()
        errors += [
            FieldError(where, "There is " + words.format(value))
            for value, places in named.items()
            if value not in there
            for where in places
            if not (kind == "service" and kept and field_value(kept, where) == value)
        ]
    return errors


def _named(form: Form, data: Mapping[str, Any], kind: str) -> dict[str, list[str]]:
    """Each value the fields of this kind hold (table cells too), with where it is."""
    named: dict[str, list[str]] = {}
    for field in form.fields:
        value = data.get(field["key"])
        if field["type"] == kind and isinstance(value, str) and value:
            named.setdefault(value, []).append(field["key"])
        elif field["type"] == "table" and isinstance(value, list):
            for index, row in enumerate(value):
                for column in field["columns"]:
                    cell = row.get(column["key"]) if isinstance(row, Mapping) else None
                    if column["type"] == kind and isinstance(cell, str) and cell:
                        named.setdefault(cell, []).append(f"{field['key']}.{index}.{column['key']}")
    return named


def comment_field(form: Form | None) -> str | None:
    """Return the field of a decision's form that holds its reason (`comment`, `..._comment`)."""
    if form is None:
        return None
    return next(
        (
            f["key"]
            for f in sorted(form.fields, key=lambda f: f["key"])
            if f["key"].endswith("comment")
        ),
        None,
    )


class FormVersions:
    """Published forms by version id (versions never change, so each is read once)."""

    def __init__(self) -> None:
        self._forms: dict[int, Form] = {}

    def version(self, directory: Directory, version_id: int) -> Form:
        """Return one published form version."""
        form = self._forms.get(version_id)
        if form is None:
            content = directory.content(version_id)
            if content is None:
                raise NotFound(f"there is no form version {version_id}")
            form = self._forms[version_id] = Form.from_document(content)
        return form

    def latest(self, directory: Directory, key: str) -> tuple[int, Form]:
        """Return the id and form of a form's latest version."""
        version_id = directory.latest_form_version(key)
        if version_id is None:
            raise NotFound(f"there is no published form '{key}'")
        return version_id, self.version(directory, version_id)

    def pinned(
        self, directory: Directory, key: str, version_id: int | None, at: datetime
    ) -> tuple[int, Form]:
        """Return the version a page showed (if it is a version of `key` that was the latest
        less than `PINNED_GRACE` before `at`), else the latest. A page opened before a
        new version was published is checked as it was shown; an older version is not
        taken for ever: its answers would skip what the newer one asks."""
        if (
            version_id is not None
            and directory.is_version_of(version_id, "form", key)
            and still_pinnable(directory.superseded_at(version_id), at)
        ):
            return version_id, self.version(directory, version_id)
        return self.latest(directory, key)


#: How long after a newer version of a form is published a page of the older one is still
#: checked as it was shown: a day, the life of a form page (its kept files' too).
PINNED_GRACE = timedelta(days=1)


def still_pinnable(superseded: datetime | None, at: datetime) -> bool:
    """Tell whether a form version superseded at `superseded` (None: the latest) may still
    check the answers of a page that showed it."""
    return superseded is None or at - superseded <= PINNED_GRACE


def require_reason(
    for_requester: bool, data: Mapping[str, Any], note: str | None, form: Form | None
) -> None:
    """Refuse a rejection without its reason, at every door and in a simulation alike.

    The one rule for a reason is `decision_reason`, which a reviewer's vote shows too; a
    task of the requester's own is exempt (its form asks what is wrong in its own words).
    """
    if for_requester:
        return
    if not (note or "").strip() and not decision_reason(data):
        field = comment_field(form) or "comment"
        raise InvalidData(REJECT_REASON, [FieldError(field, REJECT_REASON)])
