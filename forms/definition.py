"""Form definitions: fields, the kind of value each holds, and the conditions on them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from engine.core.fields import FieldInfo

#: The form format this package reads and writes.
FORMAT = 1

#: Form field type -> the kind of value it stores (see `engine.core.fields.VALUE_TYPES`).
VALUE_TYPE_OF = {
    "text": "string", "textarea": "string", "number": "number", "date": "date",
    "datetime": "datetime", "select": "string", "multiselect": "list", "radio": "string",
    "checkbox": "boolean", "file": "file", "user": "string", "table": "table",
    "hidden": "string", "calculated": "any", "service": "string",
}  # fmt: skip

#: Field types that lay out the form but hold no value.
LAYOUT_TYPES = frozenset({"section"})

#: The one upload limit, wherever files are sent (a form, a tracking page, the API): each
#: file at most MAX_FILE_SIZE bytes, at most MAX_FILES files to a field (or at once on a
#: tracking page). A form may ask for less, never for more (its schema says so).
MAX_FILE_SIZE = 10 * 1024 * 1024
MAX_FILES = 5
#: How many files a file field takes, and how large each may be, unless it says otherwise.
DEFAULT_MAX_FILES = 1
DEFAULT_MAX_SIZE = MAX_FILE_SIZE
#: The types a requester may add to their request later when its form takes no files.
ADDED_FILE_TYPES = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
)


def added_files_field(form: Form | None) -> dict[str, Any]:
    """The rules of the files a requester adds to their request on its tracking page, as a
    file field: those of the form's first file field, so a request takes the same files
    when it is made and later; else up to `MAX_FILES` pictures, PDFs or texts at once."""
    for field in form.fields if form is not None else ():
        if field["type"] == "file":
            return {
                "key": "files",
                "type": "file",
                "max_files": int(field.get("max_files", DEFAULT_MAX_FILES)),
                "max_size": int(field.get("max_size", DEFAULT_MAX_SIZE)),
                "accept": list(field.get("accept") or ()),
            }
    return {
        "key": "files",
        "type": "file",
        "max_files": MAX_FILES,
        "max_size": MAX_FILE_SIZE,
        "accept": list(ADDED_FILE_TYPES),
    }


def size_words(size: int) -> str:
    """Say a number of bytes as people read it: '10 MB', '512 KB', '300 bytes'."""
    for unit, step in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= step:
            return f"{size / step:.3g} {unit}"
    return f"{size} bytes"


#: How many characters a one-line text (and any other text but a textarea's) may hold when its
#: field sets no `max_length`.
MAX_LINE_LENGTH = 500
#: The longest key a service of the catalogue has (a `service` field holds one).
MAX_SERVICE_KEY = 80

#: How many characters a textarea may hold when it sets no `max_length`; no `max_length` may
#: allow more than this.
MAX_TEXTAREA_LENGTH = 20_000

#: The rules a field may carry, in the order they are evaluated.
RULES = ("visible_if", "required_if")


def max_length(field: Mapping[str, Any]) -> int:
    """Return how many characters a text field takes: its `max_length`, or the cap of its type."""
    stated = field.get("max_length")
    if isinstance(stated, int) and not isinstance(stated, bool):
        return stated
    return MAX_TEXTAREA_LENGTH if field["type"] == "textarea" else MAX_LINE_LENGTH


def option_value(option: Any) -> Any:
    """Return the value an option stores: a bare text or number, or a pair's `value`."""
    return option["value"] if isinstance(option, Mapping) else option


def option_values(field: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """Return the values a choice field allows, or None when it takes any value."""
    options = field.get("options")
    if options is None:
        return None
    return tuple(option_value(o) for o in options)


def option_labels(field: Mapping[str, Any]) -> tuple[str, ...] | None:
    """Return what a choice field's options say to people, in order (a bare option: itself)."""
    options = field.get("options")
    if options is None:
        return None
    return tuple(
        str(o.get("label") or o["value"]) if isinstance(o, Mapping) else str(o) for o in options
    )


def holds_value(field: Mapping[str, Any]) -> bool:
    """Tell whether a field holds a value (a section only lays out the form)."""
    return field["type"] not in LAYOUT_TYPES


class Page(NamedTuple):
    """One page of a form: its title and its fields, sections included, in order."""

    title: str
    fields: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True, slots=True, eq=False, weakref_slot=True)
class Form:
    """A form document, read once; `doc` is the JSON it came from.

    Forms compare by identity: `doc` is a mapping, and compiled schemas are cached per
    form object (see `forms.compiler`).
    """

    key: str
    title: str
    doc: Mapping[str, Any]
    pages: tuple[Page, ...] = dataclasses.field(init=False)
    fields: tuple[Mapping[str, Any], ...] = dataclasses.field(init=False)
    _by_key: Mapping[str, Mapping[str, Any]] = dataclasses.field(init=False, repr=False)
    #: The types of its value fields and of their tables' columns ("service": it offers
    #: the service catalogue; "user": it names people).
    kinds: frozenset[str] = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        pages = tuple(
            Page(page["title"], tuple(page["fields"])) for page in self.doc.get("pages", ())
        ) or (Page(self.title, tuple(self.doc.get("fields", ()))),)
        fields = tuple(f for page in pages for f in page.fields if holds_value(f))
        object.__setattr__(self, "pages", pages)
        object.__setattr__(self, "fields", fields)
        object.__setattr__(self, "_by_key", {f["key"]: f for f in fields})
        kinds = {f["type"] for f in fields}
        kinds.update(c["type"] for f in fields for c in f.get("columns", ()))
        object.__setattr__(self, "kinds", frozenset(kinds))

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Form:
        return cls(doc["key"], doc["title"], doc)

    def field(self, key: str) -> Mapping[str, Any]:
        """Return the value field with this key; raise KeyError if the form has none."""
        return self._by_key[key]

    def field_infos(self) -> tuple[FieldInfo, ...]:
        """Describe the fields this form fills in, as workflow conditions see them."""
        return tuple(
            FieldInfo(
                f["key"],
                VALUE_TYPE_OF[f["type"]],
                option_values(f),
                f["label"],
                option_labels=option_labels(f),
            )
            for f in self.fields
        )


def all_fields(doc: Mapping[str, Any]) -> Iterator[tuple[str, Sequence[Mapping[str, Any]]]]:
    """Yield (JSON Pointer, field list) for the top-level field lists of a form document."""
    if "pages" in doc:
        for index, page in enumerate(doc["pages"]):
            yield f"/pages/{index}/fields", page["fields"]
    else:
        yield "/fields", doc["fields"]
