"""What the workflow designer's pickers offer, and what the flow being drawn can read where.

`picker_context` lists what exists where workflows run: the published forms with their
fields, the groups, active users, calendars and on-call schedules, and the templates.
`references` is what a draft is checked against, as publishing checks it: the published
catalog with the draft in its own place, and the people who exist. `compact_fields` puts
the checker's `fields_at` (what the condition builder offers) in a compact form for the
browser. `running_steps` counts the open
instances of a workflow's latest version by the steps they wait at.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from engine.catalog import Catalog, shipped_templates
from engine.core.checker import References, child_of
from engine.core.checker.dataflow import Child
from engine.core.checker.fields_at import FieldAt
from engine.core.fields import FieldInfo
from engine.service.definitions import (
    directory_names,
    published_catalog,
    published_documents,
    published_versions,
)
from engine.service.drafts import draft_document
from engine.service.workflow_templates import Template
from engine.store.definitions import Definition, DefinitionVersion
from engine.store.instances import Instance
from engine.store.oncall import OnCallSchedule
from engine.store.people import Group, OnCallShift, User

#: The most users a picker is offered; beyond that, names are typed.
MAX_USERS = 1000


def picker_context(session: Session, templates: Iterable[Template]) -> dict[str, Any]:
    """Return what the designer's pickers offer, independent of any draft."""
    forms = published_catalog(session).references().forms or {}
    return {
        "forms": [
            {
                "key": key,
                "title": title or key,
                "latest_version": version,
                "fields": [_field(info) for info in forms.get(key) or ()],
            }
            for key, title, version in session.execute(
                select(Definition.key, Definition.title, Definition.latest_version)
                .where(Definition.kind == "form", Definition.latest_version > 0)
                .order_by(Definition.key)
            )
        ],
        "groups": [
            {"key": key, "name": name or key}
            for key, name in session.execute(select(Group.key, Group.name).order_by(Group.key))
        ],
        "users": [
            {"username": username, "name": name or username}
            for username, name in session.execute(
                select(User.username, User.name)
                .where(User.active.is_(True))
                .order_by(User.username)
                .limit(MAX_USERS)
            )
        ],
        "calendars": list(
            session.scalars(
                select(Definition.key)
                .where(Definition.kind == "calendar", Definition.latest_version > 0)
                .order_by(Definition.key)
            )
        ),
        # The on-call schedules, and the keys only shifts name (before schedules existed).
        "schedules": sorted(
            set(session.scalars(select(OnCallSchedule.key)))
            | set(session.scalars(select(OnCallShift.schedule).distinct()))
        ),
        "templates": [template.to_json() for template in templates],
        # The messages that ship with Flowdesk, which a notify may name besides its own.
        "messages": sorted(shipped_templates()),
    }


def _field(info: FieldInfo) -> dict[str, Any]:
    """A form's field as a picker shows it: `type` is the kind of value conditions compare,
    `form_type` the form's own field type (select, date, user...)."""
    found: dict[str, Any] = {
        "key": info.key,
        "label": info.label or info.key,
        "type": info.type,
        "form_type": info.form_type,
        "required": info.required,
    }
    if info.options is not None:
        found["options"] = list(info.options)
        if info.option_labels is not None and len(info.option_labels) == len(info.options):
            found["option_labels"] = list(info.option_labels)
    return found


def references(session: Session, document: dict[str, Any]) -> References:
    """Return what a workflow draft is checked against, as publishing would check it.

    The designer checks on every edit: what the published documents offer (their forms'
    fields, the workflows they describe) is worked out once per set of published versions
    and kept, and only the versions are read again; the draft takes its own place in it.
    """
    names = directory_names(session)
    groups, users = frozenset(names[0]), frozenset(names[1])
    own = document.get("key")
    if document.get("kind") != "workflow" or not isinstance(own, str) or not own:
        catalog = published_catalog(session, [draft_document(document)])
        return dataclasses.replace(catalog.references(), groups=groups, users=users)
    published = _published_references(session)
    children = _WithDraft(published.children or {}, own, document, published.forms)
    return dataclasses.replace(
        published, workflows=frozenset(children), children=children, groups=groups, users=users
    )


#: What the published documents offer, by the versions they were read at (the latest few),
#: for each database a process opens (its engine): version ids mean nothing in another one.
_kept_references: WeakKeyDictionary[
    Engine, dict[frozenset[tuple[tuple[str, str], int]], References]
] = WeakKeyDictionary()
KEPT_REFERENCES = 4


def _published_references(session: Session) -> References:
    versions = frozenset(published_versions(session).items())
    kept = _kept_references.setdefault(session.get_bind().engine, {})
    found = kept.get(versions)
    if found is None:
        documents, read_at = published_documents(session)
        found = Catalog(documents).references()
        while len(kept) >= KEPT_REFERENCES:
            kept.pop(next(iter(kept)))
        kept[frozenset(read_at.items())] = found
    return found


class _WithDraft(Mapping[str, Child | None]):
    """The published workflows as the workflows that start them see them, with the draft
    in place of its published version. The draft's own description is worked out only if
    it is read: by a draft that starts itself as a subflow."""

    def __init__(
        self,
        published: Mapping[str, Child | None],
        key: str,
        document: dict[str, Any],
        forms: Mapping[str, Any] | None,
    ) -> None:
        self._published = published
        self._key = key
        self._document = document
        self._forms = forms
        self._own: list[Child | None] = []

    def __getitem__(self, name: str) -> Child | None:
        if name != self._key:
            return self._published[name]
        if not self._own:
            self._own.append(child_of(self._document, self._forms))
        return self._own[0]

    def __iter__(self) -> Iterator[str]:
        yield from (name for name in self._published if name != self._key)
        yield self._key

    def __len__(self) -> int:
        return len(self._published) + (self._key not in self._published)


def compact_fields(found: Mapping[str, list[FieldAt]]) -> dict[str, Any]:
    """Return the fields each step (and `$start`) may read, ready for JSON and compact.

    A field reaches many steps alike: each one is listed once in `fields` (`{key, label, type,
    form_type?, options?, option_labels?}`, distinct by content, in the order of their
    content: moving a step leaves the list as it was), and `fields_at` gives each step its
    fields as `[index in fields, the step that fills it in or None, maybe_missing]`. A
    100-step flow answers in a tenth of the bytes every field in full would take.
    """
    described: dict[int, tuple[str, dict[str, Any]]] = {}  # a FieldAt (by id) -> its content
    for listed in found.values():
        for field in listed:
            if id(field) not in described:
                about: dict[str, Any] = {"key": field.key, "label": field.label, "type": field.type}
                if field.form_type is not None:
                    about["form_type"] = field.form_type
                if field.options is not None:
                    about["options"] = list(field.options)
                    if field.option_labels is not None:
                        about["option_labels"] = list(field.option_labels)
                described[id(field)] = (json.dumps(about, sort_keys=True), about)
    contents = sorted(dict(described.values()).items())  # by content: unique, comparable
    index_of = {content: index for index, (content, _) in enumerate(contents)}
    entry_of = {
        id(field): [index_of[described[id(field)][0]], field.step, field.maybe_missing]
        for listed in found.values()
        for field in listed
    }
    at = {step: [entry_of[id(field)] for field in listed] for step, listed in found.items()}
    return {"fields": [about for _, about in contents], "fields_at": at}


def fields_answer(found: Mapping[str, list[FieldAt]], seen: Any = None) -> dict[str, Any]:
    """The fields of a check as the designer's page asks for them: only what it lacks.

    `fields_digest` names the list of fields, and `fields_steps` names, for each step, its
    fields (with the list they point into): a page that sends back what it holds (`seen`:
    `{"fields": digest, "steps": {step: digest}}`) gets `fields` only when the list changed,
    and in `fields_at` only the steps whose fields changed: most edits change a few steps'
    or none. Anything else as `seen` is a page that holds nothing.
    """
    compact = compact_fields(found)
    table = _digest(json.dumps(compact["fields"]))
    steps = {
        step: _digest(table + json.dumps(entries)) for step, entries in compact["fields_at"].items()
    }
    held: dict[str, Any] = seen if isinstance(seen, dict) else {}
    held_steps = held.get("steps")
    if not isinstance(held_steps, dict):
        held_steps = {}
    answer: dict[str, Any] = {"fields_digest": table, "fields_steps": steps}
    if held.get("fields") != table:
        answer["fields"] = compact["fields"]
    answer["fields_at"] = {
        step: entries
        for step, entries in compact["fields_at"].items()
        if held_steps.get(step) != steps[step]
    }
    return answer


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def running_steps(session: Session, key: str) -> dict[str, Any]:
    """Return how many open instances of a workflow's latest version wait at each step.

    An instance waiting in several branches of a parallel step counts at each of them;
    the parallel step itself counts only while none of its branches is running.
    """
    row = session.execute(
        select(DefinitionVersion.id, DefinitionVersion.version)
        .join(Definition, Definition.id == DefinitionVersion.definition_id)
        .where(
            Definition.kind == "workflow",
            Definition.key == key,
            DefinitionVersion.version == Definition.latest_version,
        )
    ).first()
    if row is None:
        return {"version": 0, "steps": {}}
    counts: Counter[str] = Counter()
    for state in session.scalars(
        select(Instance.state).where(
            Instance.workflow_version_id == row.id, Instance.ended_at.is_(None)
        )
    ):
        counts.update(waiting_at(state))
    return {"version": row.version, "steps": dict(sorted(counts.items()))}


def waiting_at(state: Mapping[str, Any]) -> set[str]:
    """Return the steps an instance's saved state waits at (its active runs, innermost)."""
    runs = [run for run in state.get("runs", ()) if isinstance(run, Mapping)]
    parents = {run.get("parent") for run in runs}
    return {str(run["step"]) for run in runs if "step" in run and run.get("id") not in parents}
