"""What a requester sees of their request's data: the same cut at every door.

The workflow says which fields its requester sees (`requester_sees`); without it, they
see the start form's fields they filled in and the fields later forms mark `public`
(a resolution, an answer). A dotted path shows just that value: `caller.email` shows the
caller's email, not the rest of `caller`. The tracking page (`engine.service.tracking`),
and a signed-in requester's own instance page and API answer (`engine.service.desk`),
all cut the data here, so no door shows a requester more than the workflow allows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from engine.core.definition import Workflow
from engine.service.errors import NotFound
from engine.service.published import Published
from forms.definition import Form

#: Field types a requester never sees, whatever the form says: they are the desk's own.
INTERNAL_TYPES = frozenset({"hidden", "calculated"})


def requester_data(published: Published, workflow: Workflow, data: Mapping[str, Any]) -> Shown:
    """Return what the requester of an instance of `workflow` may see of its data."""
    start_form = form_of(published, workflow.start.get("form"))
    later = later_forms(published, workflow, start_form)
    return shown_data(data, visible_fields(workflow, start_form, later))


class Shown(dict[str, Any]):
    """What a requester may see of the data, nested as stored.

    A dotted path reads into it (`shown.get("caller.email")`), as conditions read the
    data, so a read-only form whose field keys are paths shows nested values.
    """

    def get(self, key: str, default: Any = None) -> Any:
        value = self._at(key)
        return default if value is _MISSING else value

    def __missing__(self, key: str) -> Any:
        value = self._at(key)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def _at(self, path: str) -> Any:
        if dict.__contains__(self, path):
            return dict.__getitem__(self, path)
        return _at(self, path.split("."))


_MISSING = object()


def visible_fields(workflow: Workflow, start_form: Form | None, forms: list[Form]) -> set[str]:
    """Return the fields a workflow's requester may see, or dotted paths into them."""
    if "requester_sees" in workflow.doc:
        return {str(name) for name in workflow.doc["requester_sees"]}
    seen = {
        f["key"]
        for f in (start_form.fields if start_form else ())
        if f["type"] not in INTERNAL_TYPES
    }
    for form in forms:
        seen |= {
            f["key"] for f in form.fields if f.get("public") and f["type"] not in INTERNAL_TYPES
        }
    return seen


def shown_data(data: Mapping[str, Any], paths: Iterable[str]) -> Shown:
    """Cut the data down to `paths`: `caller.email` keeps `{"caller": {"email": …}}`, no more."""
    listed = set(paths)
    shown = Shown()
    for path in sorted(listed):
        if inside(path, listed):
            continue
        parts = path.split(".")
        value = _at(data, parts)
        if value is _MISSING:
            continue
        target: dict[str, Any] = shown
        for part in parts[:-1]:  # no listed path ends here, so these are all made here
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return shown


def inside(path: str, listed: Iterable[str]) -> bool:
    """Tell whether a path lies inside another one listed, and so is shown with it."""
    return any(path.startswith(f"{other}.") for other in listed)


def _at(data: Mapping[str, Any], parts: list[str]) -> Any:
    value: Any = data
    for part in parts:
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def later_forms(published: Published, workflow: Workflow, start: Form | None) -> list[Form]:
    keys: list[str] = []
    for step in workflow.steps.values():  # nested steps of parallel branches included
        key = step.doc.get("form")
        if key and key not in keys and (start is None or key != start.key):
            keys.append(key)
    return [form for key in keys if (form := form_of(published, key)) is not None]


def form_of(published: Published, key: str | None) -> Form | None:
    if not key:
        return None
    try:
        return published.form(key)[1]
    except NotFound:
        return None
