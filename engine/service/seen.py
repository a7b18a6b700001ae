"""What a requester sees of their request: the same cut of its data and timeline at every door.

The workflow says which fields its requester sees (`requester_sees`); without it, they
see the start form's fields they filled in and the fields later forms mark `public`
(a resolution, an answer). A dotted path shows just that value: `caller.email` shows the
caller's email, not the rest of `caller`. Of the timeline they see what the tracking
page tells them (`requester_event`): that the request came in, changed status, got a
public comment or files, was answered by them, ended; never a reason the engine or an
agent gave. The tracking page (`engine.service.tracking`), and a signed-in requester's
own instance page, task pages and API answers (`engine.service.desk`), all cut here, so
no door shows a requester more than the workflow allows. Anyone signed in who is not an
agent sees an instance as its requester does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.core.definition import Workflow
from engine.service.errors import NotFound
from engine.service.published import Published
from engine.service.queries import TimelineEvent
from engine.service.requests import REQUESTER
from forms.definition import Form

#: Field types a requester never sees, whatever the form says: they are the desk's own.
INTERNAL_TYPES = frozenset({"hidden", "calculated"})


def requester_data(published: Published, workflow: Workflow, data: Mapping[str, Any]) -> Shown:
    """Return what the requester of an instance of `workflow` may see of its data."""
    return shown_data(data, requester_fields(published, workflow))


def requester_fields(published: Published, workflow: Workflow) -> set[str]:
    """Return the fields (or dotted paths) the requester of an instance of `workflow` sees."""
    start_form = form_of(published, workflow.start.get("form"))
    return visible_fields(workflow, start_form, later_forms(published, workflow, start_form))


# The timeline -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeenEvent:
    """An entry of the timeline as a requester sees it: no reason, and only safe details."""

    seq: int
    kind: str
    at: datetime
    step: str | None
    actor: str | None
    why: str | None
    detail: dict[str, Any]
    #: The requester did it: through their tracking link, or signed in as themselves.
    by_requester: bool


def requester_event(event: TimelineEvent, requester: str | None) -> SeenEvent | None:
    """Return an event as the requester of its instance sees it; None if it is not theirs.

    `requester` is the instance's requester (None: nobody signed in asked). They see that
    it started, changed status, ended; their own answers; public comments; files added
    (by name). Nothing else: not why a table or a decision chose, not a value an action set,
    not who took or passed on a task and why, not an incident, not a message that failed.
    """
    detail = event.detail or {}
    theirs = event.actor == REQUESTER or (requester is not None and event.actor == requester)
    kept: dict[str, Any]
    if event.kind in ("started", "attached"):
        kept = {}
    elif event.kind in ("status_changed", "ended"):
        kept = {"status": detail.get("status")}
    elif event.kind in ("task_completed", "voted") and theirs:
        kept = {key: detail[key] for key in ("outcome", "vote") if key in detail}
    elif event.kind == "commented" and detail.get("public"):
        kept = {"comment": detail.get("comment"), "public": True}
    else:
        return None
    # A file's name is on the request's list of files; every other reason is the desk's.
    why = event.why if event.kind == "attached" else None
    return SeenEvent(event.seq, event.kind, event.at, event.step, event.actor, why, kept, theirs)


def requester_timeline(events: Iterable[TimelineEvent], requester: str | None) -> list[SeenEvent]:
    """Return the entries of a timeline the requester of its instance sees, in order."""
    return [seen for event in events if (seen := requester_event(event, requester)) is not None]


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
