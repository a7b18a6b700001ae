"""The data an admin corrects as they retry an instance stopped on an incident.

A step stopped by its own data (a division by zero, a person named who has left) stops again
on a plain retry. The retry may set some fields first, and each is checked where it is told:

- a field one of the workflow's forms has is checked as that form checks an answer to it
  (the version the instance's last task on that form opened with, else the latest): its
  kind, limits and line breaks, an answer to a required field, a person who can sign in, a
  service of the catalogue. Conditions on other fields
  (`visible_if`, `required_if`) are not: the admin sets this one field on purpose.
- a calculated field is worked out, a file attached and a hidden field given by its form,
  never set; the priority has its own command (it asks why, and re-titles the tasks);
- a field no form has may be corrected when the instance holds it already (an action's
  `set` made it), and a dotted name only inside a field that holds others;
- any other name is refused, with the names there are: a value nothing reads would fix
  nothing and hide the mistake.

Posted from a page, a value is text, read as its form's field reads it ("3" is a number for
a number field); for a field no form has, as JSON when the field holds no text (a count of
0 is corrected with "4", the number). From the API or the command line it is JSON.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from engine.core.checker.words import closest
from engine.core.conditions import field_value
from engine.core.definition import Workflow
from engine.service.errors import NotFound
from engine.service.submissions import FormVersions, InvalidData, people_errors
from engine.store.repository import Repository
from forms.coercion import coerce_post
from forms.definition import Form
from forms.errors import FieldError
from forms.validation import validate

#: A field's name, dotted for a field inside another (`caller.email`).
FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}(\.[A-Za-z][A-Za-z0-9_]{0,62})*$")
#: The most fields one retry corrects.
MAX_CORRECTIONS = 50
#: Why a field of these types is never corrected.
REFUSED = {
    "calculated": "A calculated field is worked out from the others: correct those",
    "file": "Files are attached (on the instance page), not set",
    "hidden": "A hidden field keeps what its form gave it",
    "section": "A section holds no value",
}
PRIORITY = (
    "The priority has its own command (Change priority on the instance page), which asks why "
    "and re-titles the tasks"
)
#: A field's conditions on the others, which a correction of it alone does not meet.
CONDITIONS = ("visible_if", "required_if")


def form_fields(
    forms: FormVersions,
    repo: Repository,
    workflow: Workflow,
    pinned: Mapping[str, int] | None = None,
) -> dict[str, tuple[Form, Mapping[str, Any]]]:
    """Each field of the forms the workflow names (its start form first, then its steps'
    forms), with the form it is on: the version `pinned` names for its key (the one the
    instance's data was answered on), else the latest."""
    keys = [workflow.start.get("form"), *(step.doc.get("form") for step in workflow.steps.values())]
    found: dict[str, tuple[Form, Mapping[str, Any]]] = {}
    for key in dict.fromkeys(key for key in keys if isinstance(key, str) and key):
        try:
            version = (pinned or {}).get(key)
            form = forms.version(repo, version) if version else forms.latest(repo, key)[1]
        except NotFound:  # not published (any more): its fields are known by the data alone
            continue
        for spec in form.fields:
            found.setdefault(spec["key"], (form, spec))
    return found


def checked_corrections(
    repo: Repository,
    forms: FormVersions,
    workflow: Workflow,
    data: Mapping[str, Any],
    corrections: Mapping[str, Any],
    *,
    pinned: Mapping[str, int] | None = None,
    posted: bool = False,
    zone: str = "UTC",
) -> dict[str, Any]:
    """Return the corrections as they will be set; raise `InvalidData` naming each field
    that does not take its value. `data` is the instance's data as it is; `pinned`, the
    form versions its tasks opened with, by key."""
    if len(corrections) > MAX_CORRECTIONS:
        raise InvalidData(
            f"a retry corrects at most {MAX_CORRECTIONS} fields",
            [FieldError("", f"Correct at most {MAX_CORRECTIONS} fields at once")],
        )
    specs = form_fields(forms, repo, workflow, pinned)
    cleaned: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name, given in corrections.items():
        if name == workflow.priority_field:
            errors.append(FieldError(name, PRIORITY))
            continue
        if not FIELD.match(name):
            errors.append(
                FieldError(
                    name, "Name a field: letters, digits and _, dotted for one inside another"
                )
            )
            continue
        found = specs.get(name)
        if found is None:
            parent, _, _ = name.rpartition(".")
            if not parent and name not in data:
                known = sorted({*specs, *data})
                meant = closest(name, known)
                hint = f"; did you mean '{meant}'?" if meant else ""
                message = f"Neither the instance nor a form of its workflow has a field '{name}'"
                errors.append(FieldError(name, message + hint))
                continue
            if parent and not isinstance(field_value(data, parent), Mapping):
                message = f"'{parent}' holds no fields here, so '{name}' cannot be set"
                errors.append(FieldError(name, message))
                continue
            cleaned[name] = _json(given, field_value(data, name)) if posted else given
            continue
        form, spec = found
        refusal = REFUSED.get(spec["type"])
        if refusal is not None:
            errors.append(FieldError(name, refusal))
            continue
        value = _read(spec, given, zone) if posted else given
        checked = validate(_alone(spec), {name: value})
        if checked.errors:
            errors += checked.errors
            continue
        named = people_errors(repo, form, {name: value})
        if named:
            errors += named
            continue
        cleaned[name] = checked.data.get(name, value)
    if errors:
        raise InvalidData("some of the corrections do not fit the instance", errors)
    return cleaned


def _alone(spec: Mapping[str, Any]) -> Form:
    """A form of this one field, without its conditions on the others."""
    field = {key: value for key, value in spec.items() if key not in CONDITIONS}
    return Form.from_document(
        {"kind": "form", "format": 1, "key": "correction", "title": "Correction", "fields": [field]}
    )


def _json(given: Any, current: Any) -> Any:
    """A posted text for a field no form has: JSON ("4", "true", "null") unless the field
    holds text, or the text is no JSON."""
    if not isinstance(given, str) or isinstance(current, str):
        return given
    try:
        return orjson.loads(given)
    except orjson.JSONDecodeError:
        return given


def _read(spec: Mapping[str, Any], given: Any, zone: str) -> Any:
    """A posted text as its field reads it; text a field cannot read stays text, for the
    check to say why."""
    if not isinstance(given, str):
        return given
    return coerce_post(_alone(spec), {spec["key"]: [given]}, tz=zone).get(spec["key"], given)
