"""Form documents are validated by a fast first pass and, when it refuses one, by `jsonschema`.

The fast pass (`jsonschema-rs`) only ever answers "valid"; the problems in words come from
`jsonschema`. So it must never call valid a document `jsonschema` refuses: checked here on
documents with every kind of mistake a field can hold.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.schema import schema_problems
from forms.validator import document_problems, document_validator
from tests.unit.forms.large import large_form

RUNS = settings(max_examples=300, derandomize=True, database=None, deadline=None)

TEXTS = st.sampled_from(["a", "", "Summary", "x" * 501, "2nd", "a-b", "low\n", "\ud800", "é"])
NUMBERS = st.one_of(
    st.integers(-5, 30_000), st.floats(-10, 10, allow_nan=False), st.just(10**30), st.booleans()
)
MOMENTS = st.sampled_from(
    ["2026-01-01", "2026-13-01", "yesterday", "2026-01-01T10:00:00Z", "2026-01-01T10:00:00",
     "2026-01-01T25:00:00+01:00", "20260101"]
)  # fmt: skip
LITERALS = st.one_of(st.none(), TEXTS, NUMBERS, st.lists(TEXTS, max_size=2))
OPERATORS = st.sampled_from(["eq", "ne", "in", "not_in", "lt", "empty", "not_empty", "like"])

COMPARISON = st.fixed_dictionaries(
    {"field": st.sampled_from(["a", "b", "2nd", "a.b"]), "op": OPERATORS},
    optional={"value": LITERALS, "extra": st.just(1)},
)
CONDITIONS = st.recursive(
    COMPARISON | TEXTS,
    lambda inner: st.one_of(
        st.fixed_dictionaries({"all": st.lists(inner, max_size=2)}),
        st.fixed_dictionaries({"any": st.lists(inner, min_size=1, max_size=2)}),
        st.fixed_dictionaries({"not": inner}),
        st.fixed_dictionaries({"all": st.lists(inner, max_size=1), "any": st.just([])}),
    ),
    max_leaves=4,
)
OPTIONS = st.lists(
    TEXTS | NUMBERS | st.fixed_dictionaries({"value": TEXTS | NUMBERS, "label": TEXTS}),
    max_size=3,
)
TYPES = st.sampled_from(
    ["text", "textarea", "number", "date", "datetime", "select", "multiselect", "radio",
     "checkbox", "file", "user", "table", "section", "hidden", "calculated", "clock"]
)  # fmt: skip

#: Sound fields of every type: the documents below are these, some with one property changed.
SOUND_FIELDS = [
    {"key": "a", "type": "text", "label": "A", "max_length": 20, "pattern": "^x",
     "format": "email"},
    {"key": "b", "type": "textarea", "label": "B", "min_length": 2, "help": "Say more."},
    {"key": "c", "type": "number", "label": "C", "min": 0, "max": 9.5, "integer": True},
    {"key": "d", "type": "date", "label": "D", "min": "2026-01-01", "max": "2026-12-31"},
    {"key": "e", "type": "datetime", "label": "E", "min": "2026-01-01T10:00:00+01:00"},
    {"key": "f", "type": "select", "label": "F", "options": ["x", {"value": 2, "label": "Two"}]},
    {"key": "g", "type": "multiselect", "label": "G", "options": ["x"], "max_items": 1},
    {"key": "h", "type": "radio", "label": "H", "options": ["x", "y"], "required": True},
    {"key": "i", "type": "checkbox", "label": "I", "default": True, "public": True},
    {"key": "j", "type": "file", "label": "J", "accept": ["image/*"], "max_size": 10},
    {"key": "k", "type": "user", "label": "K",
     "visible_if": {"field": "h", "op": "eq", "value": "x"}},
    {"key": "l", "type": "table", "label": "L", "max_rows": 3,
     "columns": [{"key": "m", "type": "text", "label": "M"}]},
    {"key": "n", "type": "section", "label": "N"},
    {"key": "o", "type": "hidden", "label": "O", "default": "portal"},
    {"key": "p", "type": "calculated", "label": "P", "expr": "c * 2",
     "required_if": {"all": ["c > 1", {"not": {"field": "f", "op": "in", "value": [2, None]}}]}},
]  # fmt: skip

PROPERTIES = st.sampled_from(
    ["key", "type", "label", "help", "required", "format", "min", "max", "integer", "min_length",
     "max_length", "min_items", "max_rows", "max_size", "pattern", "accept", "options", "expr",
     "columns", "visible_if", "required_if", "default", "colour"]
)  # fmt: skip
VALUES = st.one_of(
    LITERALS,
    MOMENTS,
    OPTIONS,
    CONDITIONS,
    st.lists(st.sampled_from(["image/*", "image/png", "pdf", "a/b/c"]), max_size=2),
    st.lists(
        st.fixed_dictionaries({"key": st.just("c"), "type": TYPES, "label": TEXTS}), max_size=2
    ),
    TYPES,
)


def _changed(field: dict[str, Any], change: tuple[str, Any, bool] | None) -> dict[str, Any]:
    if change is None:
        return field
    name, value, drop = change
    changed = {**field, name: value}
    if drop:
        del changed[name]
    return changed


FIELD = st.builds(
    _changed,
    st.sampled_from(SOUND_FIELDS),
    st.none() | st.tuples(PROPERTIES, VALUES, st.booleans()),
)

DOCUMENT = st.builds(
    _changed,
    st.fixed_dictionaries(
        {"kind": st.just("form"), "format": st.just(1), "key": st.just("request"),
         "title": st.just("Request"), "fields": st.lists(FIELD, min_size=1, max_size=3)}
    ),
    st.none() | st.tuples(
        st.sampled_from(["kind", "format", "key", "title", "description", "pages"]),
        VALUES,
        st.booleans(),
    ),
)  # fmt: skip


@RUNS
@given(DOCUMENT)
def test_fast_pass_never_lets_through_a_document_jsonschema_refuses(doc: dict[str, Any]) -> None:
    assert document_problems(doc) == schema_problems(document_validator(), doc)


def test_fast_pass_agrees_on_a_6000_field_form() -> None:
    doc = large_form(6000)
    assert document_problems(doc) == schema_problems(document_validator(), doc) == []
