"""Render forms as accessible HTML: the loader of the Jinja2 macros and the helpers they call.

The macros live in `forms/templates/forms/macros.html`; they read the raw form
document (`Form.doc`), so rendering follows the JSON contract and nothing else.
Ids are `f-` plus the dotted field path with dots as dashes (`items.0.qty` ->
`f-items-0-qty`); `field_id` is the one place that says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any

from jinja2 import Environment, PackageLoader

from forms.answers import (
    CHECKBOX_VALUE,
    answers,
    as_text,
    condition_words,
    display,
    file_hint,
    file_names,
    is_ticked,
    lookup,
    options,
    table_values,
    texts,
)

Field = Mapping[str, Any]
Attrs = dict[str, str | None]

#: Field types that lay out the form and hold no value.
LAYOUT_TYPES = frozenset({"section"})
#: `<input type>` for the field types drawn as a single input.
INPUT_TYPES = {
    "text": "text", "number": "number", "date": "date", "datetime": "datetime-local",
    "user": "text", "file": "file", "checkbox": "checkbox",
}  # fmt: skip
#: `<input type>` and autocomplete hint of a text field's `format`.
FORMAT_INPUTS = {"email": ("email", "email"), "phone": ("tel", "tel"), "url": ("url", "url")}
#: Keys of text fields that ask for the person's own name (autocomplete="name").
NAME_KEYS = frozenset({"name", "full_name", "your_name", "requester_name"})


#: Gives the catalogue's services, (key, name) by name, for a `service` field to offer.
Services = Callable[[], Sequence[tuple[str, str]]]


def template_loader() -> PackageLoader:
    """Return the loader of the form macros (`forms/macros.html`) for the app's ChoiceLoader."""
    return PackageLoader("forms", "templates")


def field_id(path: str, kind: str = "f") -> str:
    """Return the HTML id of a dotted field path: `items.0.qty` -> `f-items-0-qty`."""
    return f"{kind}-{path.replace('.', '-')}"


def register(env: Environment, services: Services | None = None) -> None:
    """Add the helpers the form macros call to a Jinja2 environment.

    `services` gives the catalogue's services, (key, name) by name, that a `service` field
    offers; it is asked only when a page has such a field (this package reads no database).
    """
    env.filters["field_id"] = field_id
    env.filters["form_options"] = options
    env.globals.update(
        field_id=field_id,
        fields_by_key=fields_by_key,
        has_files=has_files,
        form_state=partial(FormState.of, services=services),
        form_error_entries=error_entries,
        form_answers=answers,
        form_display=partial(_display, services=services),
        form_table_values=table_values,
    )


def _display(field: Field, value: Any, services: Services | None) -> str:
    """A stored value in words; a service by its name in the catalogue (its key when the
    catalogue no longer has it)."""
    if field["type"] == "service" and isinstance(value, str) and value and services:
        return dict(services()).get(value, value)
    return display(field, value)


# -- the shape of a form: pages, sections, fields ------------------------------------------


@dataclass(frozen=True, slots=True)
class Group:
    """A run of fields, under the section that heads them (None before any section)."""

    section: Field | None
    fields: tuple[Field, ...]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a form; a form without pages is one page without a title."""

    title: str | None
    help: str | None
    groups: tuple[Group, ...]


def pages(form_doc: Mapping[str, Any]) -> tuple[Page, ...]:
    """Split a form into its pages and each page into its sections."""
    if "pages" not in form_doc:
        return (Page(None, None, _groups(form_doc.get("fields", ()))),)
    return tuple(
        Page(p.get("title"), p.get("help"), _groups(p.get("fields", ()))) for p in form_doc["pages"]
    )


def _groups(fields: Sequence[Field]) -> tuple[Group, ...]:
    groups: list[Group] = []
    section: Field | None = None
    run: list[Field] = []
    for field in fields:
        if field["type"] in LAYOUT_TYPES:
            if section is not None or run:
                groups.append(Group(section, tuple(run)))
            section, run = field, []
        else:
            run.append(field)
    if section is not None or run:
        groups.append(Group(section, tuple(run)))
    return tuple(groups)


def value_fields(form_doc: Mapping[str, Any]) -> Iterator[Field]:
    """Yield the fields that hold a value, in form order, across pages and sections."""
    for page in pages(form_doc):
        for group in page.groups:
            yield from group.fields


def fields_by_key(form_doc: Mapping[str, Any]) -> dict[str, Field]:
    """Map each value field's key to its document, in form order."""
    return {field["key"]: field for field in value_fields(form_doc)}


def has_files(form_doc: Mapping[str, Any]) -> bool:
    """Tell whether the form uploads files (its page needs enctype multipart/form-data)."""
    return any(
        field["type"] == "file" or any(c["type"] == "file" for c in field.get("columns", ()))
        for field in value_fields(form_doc)
    )


# -- errors ----------------------------------------------------------------------------------


def error_entries(
    errors: Mapping[str, str], fields: Mapping[str, Field], prefix: str = ""
) -> list[tuple[str | None, str]]:
    """Return (target id or None, "Label: message") for the error summary, in form order."""
    order = {key: n for n, key in enumerate(fields)}
    entries: list[tuple[tuple[int, int], str | None, str]] = []
    for path, message in errors.items():
        target = error_target(path, fields)
        if target is None:
            entries.append(((len(order), 0), None, str(message)))
            continue
        at, label = target
        parts = at.split(".")
        row = int(parts[1]) if len(parts) > 1 else -1
        entries.append(((order[parts[0]], row), field_id(prefix + at), f"{label}: {message}"))
    entries.sort(key=lambda entry: entry[0])
    return [(target_id, text) for _, target_id, text in entries]


def error_target(path: str, fields: Mapping[str, Field]) -> tuple[str, str] | None:
    """Return the path of the control an error belongs to and its label, or None."""
    parts = path.split(".")
    field = fields.get(parts[0])
    if field is None:
        return None
    if field["type"] == "table" and len(parts) > 1 and parts[1].isdigit():
        row = int(parts[1])
        columns = {column["key"]: column for column in field["columns"]}
        if len(parts) > 2 and parts[2] in columns:
            return ".".join(parts[:3]), f"{columns[parts[2]]['label']} (row {row + 1})"
        return parts[0], f"{field['label']} (row {row + 1})"
    return parts[0], str(field["label"])


# -- one rendering of a form -----------------------------------------------------------------


@dataclass(frozen=True)
class FormState:
    """A form on the page: what is filled in, what is wrong, what shows, what is read-only."""

    doc: Mapping[str, Any]
    values: Mapping[str, Any]
    errors: Mapping[str, str]
    visible: frozenset[str] | None
    readonly: frozenset[str]
    prefix: str
    required: frozenset[str] | None
    #: Gives the catalogue's services (see `register`); asked once, if a field needs them.
    catalogue: Services = dataclasses.field(default=lambda: (), compare=False)

    @classmethod
    def of(
        cls,
        doc: Mapping[str, Any],
        values: Mapping[str, Any] | None,
        errors: Mapping[str, str] | None,
        visible: Collection[str] | None = None,
        readonly: Collection[str] = (),
        prefix: str = "",
        required: Collection[str] | None = None,
        *,
        services: Services | None = None,
    ) -> FormState:
        """Build the state from what a view has at hand (lists, sets or None)."""
        return cls(
            doc,
            values or {},
            errors or {},
            None if visible is None else frozenset(visible),
            frozenset(readonly),
            prefix,
            None if required is None else frozenset(required),
            services or (lambda: ()),
        )

    @cached_property
    def services(self) -> tuple[tuple[str, str], ...]:
        """The services a `service` field offers, (key, name) by name: read once a form."""
        return tuple(self.catalogue())

    @cached_property
    def pages(self) -> tuple[Page, ...]:
        return pages(self.doc)

    @cached_property
    def fields(self) -> dict[str, Field]:
        return fields_by_key(self.doc)

    def name(self, path: str) -> str:
        return self.prefix + path

    def id(self, path: str, kind: str = "f") -> str:
        return field_id(self.prefix + path, kind)

    def value(self, field: Field, path: str) -> Any:
        """Return the value at a path; an unanswered top-level field has its default."""
        if "." not in path and path not in self.values:
            return field.get("default")
        return lookup(self.values, path)

    def text(self, field: Field, path: str) -> str:
        return as_text(self.value(field, path), field["type"])

    @cached_property
    def _inline_errors(self) -> dict[str, str]:
        """Map each control's path to its first error (`tags.1` shows at `tags`)."""
        inline: dict[str, str] = {}
        for path, message in self.errors.items():
            target = error_target(path, self.fields)
            if target is not None:
                inline.setdefault(target[0], str(message))
        return inline

    def error(self, path: str) -> str | None:
        return self._inline_errors.get(path)

    def shown(self, key: str) -> bool:
        return self.visible is None or key in self.visible

    def group_shown(self, group: Group) -> bool:
        """Hide a section only when every field in it is hidden."""
        keys = [f["key"] for f in group.fields if f["type"] != "hidden"]
        return not keys or any(self.shown(key) for key in keys)

    def is_readonly(self, key: str) -> bool:
        return key in self.readonly

    def is_required(self, field: Field, top: bool = True) -> bool:
        if top and self.required is not None:
            return field["key"] in self.required
        return field.get("required") is True

    def is_optional(self, field: Field, top: bool = True) -> bool:
        """Mark "(optional)" only where no rule can make the field required."""
        if field["type"] == "calculated":
            return False
        if top and self.required is not None:
            return field["key"] not in self.required
        return not field.get("required") and not (top and "required_if" in field)

    def hint(self, field: Field) -> str:
        """Return the help text; without one, say a file field's limits or what a sum is."""
        if field.get("help"):
            return str(field["help"])
        if field["type"] == "file":
            return file_hint(field)
        if field["type"] == "calculated":
            return "Worked out from your other answers."
        return ""

    def condition(self, field: Field) -> str | None:
        if "visible_if" not in field:
            return None
        return condition_words(field["visible_if"], self.fields)

    def rows(self, field: Field) -> range:
        """Rows to draw: the existing ones, one blank row more, and no fewer than min_rows."""
        key = field["key"]
        if key in self.values and isinstance(self.values[key], list | tuple):
            existing = len(self.values[key])
        else:
            start = key + "."
            indexes = [
                int(name[len(start) :].split(".", 1)[0])
                for name in self.values
                if name.startswith(start) and name[len(start) :].split(".", 1)[0].isdigit()
            ]
            existing = max(indexes) + 1 if indexes else len(table_values(field.get("default")))
        count = max(existing + 1, int(field.get("min_rows", 0)), 1)
        if "max_rows" in field:
            count = max(existing, min(count, int(field["max_rows"])))
        return range(count)

    def describedby(self, field: Field, path: str, hint_at: str | None = None) -> str | None:
        """Return the ids of the hint, the condition and the error that describe a control."""
        ids = []
        if self.hint(field):
            ids.append(self.id(hint_at or path) + "-hint")
        if hint_at is None and "visible_if" in field:
            ids.append(self.id(path) + "-condition")
        if self.error(path):
            ids.append(self.id(path) + "-error")
        return " ".join(ids) or None

    def _common(self, field: Field, path: str, hint_at: str | None) -> Attrs:
        top = "." not in path
        required = top and self.is_required(field)
        off = not self.shown(path.split(".", 1)[0])
        return {
            "id": self.id(path),
            "name": self.name(path),
            "aria-describedby": self.describedby(field, path, hint_at),
            "aria-invalid": "true" if self.error(path) else None,
            "required": "" if required else None,
            "aria-required": "true" if required and field["type"] != "file" else None,
            "disabled": "" if off else None,
            "data-rule-disabled": "" if off else None,
            "data-control": "",
            "data-described": "",
        }

    def input(self, field: Field, path: str, hint_at: str | None = None) -> Attrs:
        """Return the attributes of a field's `<input>` (text, number, date, file, checkbox...)."""
        kind = field["type"]
        attrs = self._common(field, path, hint_at)
        attrs["type"] = INPUT_TYPES.get(kind, "text")
        if kind == "text" and field.get("format") in FORMAT_INPUTS:
            attrs["type"], attrs["autocomplete"] = FORMAT_INPUTS[field["format"]]
        elif kind == "text" and field["key"] in NAME_KEYS:
            attrs["autocomplete"] = "name"
        elif kind == "user":
            attrs.update({"autocomplete": "off", "spellcheck": "false", "data-user": ""})
        if kind == "checkbox":
            ticked = is_ticked(self.value(field, path))
            attrs.update({"value": CHECKBOX_VALUE, "checked": "" if ticked else None})
        elif kind == "file":
            most = int(field.get("max_files", 1))
            already = file_names(self.value(field, path))
            attrs.update(
                multiple="" if most > 1 else None,
                accept=",".join(field["accept"]) if field.get("accept") else None,
                required=None if already else attrs["required"],
            )
        else:
            attrs["value"] = self.text(field, path)
        if kind == "number":
            step = "1" if field.get("integer") is True else "any"
            attrs.update(step=step, min=_number(field.get("min")), max=_number(field.get("max")))
        return attrs

    def box(self, field: Field, path: str, hint_at: str | None = None) -> Attrs:
        """Return the attributes of a `<select>` or `<textarea>`."""
        attrs = self._common(field, path, hint_at)
        if field["type"] == "textarea":
            attrs["rows"] = "5"
        return attrs

    def group(self, field: Field, path: str, hint_at: str | None = None) -> Attrs:
        """Return the attributes of the fieldset around radios or checkboxes."""
        return {"aria-describedby": self.describedby(field, path, hint_at), "data-described": ""}

    def choice(self, field: Field, path: str, index: int, value: str) -> Attrs:
        """Return the attributes of one radio or checkbox of a choice field."""
        attrs = self._common(field, path, None)
        del attrs["aria-describedby"], attrs["aria-required"], attrs["data-described"]
        radio = field["type"] == "radio"
        attrs.update(
            id=self.id(path) if index == 0 else f"{self.id(path)}-{index}",
            type="radio" if radio else "checkbox",
            value=value,
            checked="" if value in texts(self.value(field, path)) else None,
        )
        if not radio:
            del attrs["required"], attrs["data-control"]
        return attrs


def _number(value: Any) -> str | None:
    return None if value is None else as_text(value)
