"""A very long form, built the way a process owner builds one, for the checker's scaling tests.

`large_form(6000)` has pages of 100 fields: texts with limits and patterns, emails,
phones, numbers with bounds, selects and radios, multiselects, dates, checkboxes,
sections, rules (`visible_if`, `required_if`, structured and expressions) that read
earlier fields, calculated fields, and a table every 1,000 fields whose columns have
their own rules. One field in five is a follow-on question, shown once the follow-on
question before it is answered: a chain of 1,200 rules, as in a long questionnaire.
`bench/forms.py` measures it; the tests prove the checker, compiler and validation stay
sound on it.
"""

from __future__ import annotations

from typing import Any

#: How many fields one page holds.
PAGE_SIZE = 100

_CHOICES = ["none", "low", "medium", "high", "critical"]

#: The kinds of field (index modulo 20) that form the chain of follow-on questions.
_CHAINED = (7, 14, 16, 18)


def large_form(count: int = 6000, *, key: str = "large") -> dict[str, Any]:
    """Return a sound form document of `count` fields (table columns not counted)."""
    fields = [_field(index) for index in range(count)]
    pages = [
        {"title": f"Part {start // PAGE_SIZE + 1}", "fields": fields[start : start + PAGE_SIZE]}
        for start in range(0, count, PAGE_SIZE)
    ]
    return {"kind": "form", "format": 1, "key": key, "title": "Everything", "pages": pages}


def large_answers(doc: dict[str, Any]) -> dict[str, Any]:
    """Return a sound submission of a `large_form`: every field a requester can fill in."""
    answers: dict[str, Any] = {}
    for page in doc["pages"]:
        for field in page["fields"]:
            value = _answer(field)
            if value is not None:
                answers[field["key"]] = value
    return answers


def _field(index: int) -> dict[str, Any]:
    built = _built(index)
    if index % 20 in _CHAINED and index > _CHAINED[0]:
        place = _CHAINED.index(index % 20)
        start = index - index % 20 - (20 if place == 0 else 0)
        before = start + _CHAINED[place - 1]  # place - 1 is -1, the last kind, at place 0
        built["visible_if"] = {"field": f"f{before}", "op": "not_empty"}
    return built


def _built(index: int) -> dict[str, Any]:
    kind = index % 20
    key = f"f{index}"
    label = f"Question {index}"
    if index % 1000 == 999:
        return _table(key, label)
    if kind == 0:
        return {"key": key, "type": "section", "label": label, "help": "About the next part."}
    if kind in (1, 11):
        return {"key": key, "type": "select", "label": label, "options": list(_CHOICES)}
    if kind == 2:
        return {"key": key, "type": "text", "label": label, "max_length": 200,
                "visible_if": {"field": f"f{index - 1}", "op": "ne", "value": "none"},
                "required_if": {"field": f"f{index - 1}", "op": "in",
                                "value": ["high", "critical"]}}  # fmt: skip
    if kind == 3:
        return {"key": key, "type": "number", "label": label, "min": 0, "max": 10_000}
    if kind == 4:
        rule = f"f{index - 1} is not none and f{index - 1} > 100"
        return {"key": key, "type": "number", "label": label, "integer": True, "min": 1,
                "max": 500, "required_if": rule}  # fmt: skip
    if kind == 5:
        return {"key": key, "type": "calculated", "label": label,
                "expr": f"(f{index - 2} or 0) * (f{index - 1} or 1)"}  # fmt: skip
    if kind == 6:
        parts = [{"field": f"f{index - 5}", "op": "eq", "value": "high"},
                 {"field": f"f{index - 3}", "op": "ge", "value": 10}]  # fmt: skip
        return {"key": key, "type": "text", "label": label, "format": "email",
                "visible_if": {"all": parts}}  # fmt: skip
    if kind == 7:
        return {"key": key, "type": "text", "label": label, "format": "phone"}
    if kind == 8:
        return {"key": key, "type": "date", "label": label, "min": "2020-01-01",
                "max": "2030-12-31"}  # fmt: skip
    if kind == 9:
        options = [{"value": "yes", "label": "Yes"}, {"value": "no", "label": "No"}]
        return {"key": key, "type": "radio", "label": label, "required": True,
                "options": options}  # fmt: skip
    if kind == 10:
        return {"key": key, "type": "textarea", "label": label, "max_length": 5000,
                "visible_if": {"field": f"f{index - 1}", "op": "eq", "value": "yes"},
                "required_if": {"field": f"f{index - 1}", "op": "eq", "value": "yes"}}  # fmt: skip
    if kind == 12:
        parts = [{"field": f"f{index - 1}", "op": "eq", "value": "low"},
                 {"field": f"f{index - 3}", "op": "eq", "value": "yes"}]  # fmt: skip
        return {"key": key, "type": "multiselect", "label": label, "options": list(_CHOICES),
                "max_items": 3, "visible_if": {"any": parts}}  # fmt: skip
    if kind == 13:
        return {"key": key, "type": "text", "label": label, "pattern": "^[A-Z]{2}-[0-9]{4}$",
                "help": "Like AB-1234."}  # fmt: skip
    if kind == 14:
        return {"key": key, "type": "checkbox", "label": label}
    if kind == 15:
        return {"key": key, "type": "datetime", "label": label,
                "visible_if": f"f{index - 1} and f{index - 4} != 'none'"}  # fmt: skip
    if kind == 16:
        return {"key": key, "type": "user", "label": label}
    if kind == 17:
        return {"key": key, "type": "hidden", "label": label, "default": "portal"}
    if kind == 18:
        return {"key": key, "type": "text", "label": label, "required": True, "min_length": 2}
    return {"key": key, "type": "number", "label": label,
            "visible_if": {"not": {"field": f"f{index - 8}", "op": "empty"}}}  # fmt: skip


def _table(key: str, label: str) -> dict[str, Any]:
    return {"key": key, "type": "table", "label": label, "max_rows": 20, "columns": [
        {"key": "item", "type": "select", "label": "Item", "required": True,
         "options": ["laptop", "monitor", "headset"]},
        {"key": "qty", "type": "number", "label": "How many", "integer": True, "min": 1},
        {"key": "serial", "type": "text", "label": "Serial",
         "visible_if": {"field": "item", "op": "eq", "value": "laptop"}},
        {"key": "line", "type": "calculated", "label": "Line", "expr": "(qty or 0) * 2"},
    ]}  # fmt: skip


def _answer(field: dict[str, Any]) -> Any:
    kind = field["type"]
    index = int(field["key"][1:])
    if kind in ("section", "calculated", "hidden"):
        return None
    if kind == "table":
        return [{"item": "laptop", "qty": 2, "serial": "SN1"}, {"item": "monitor", "qty": 1}]
    if kind == "select":
        return _CHOICES[index % 4 + 1]
    if kind == "multiselect":
        return ["low", "high"]
    if kind == "radio":
        return "yes"
    if kind == "number":
        return 7 if field.get("integer") else 12.5
    if kind == "date":
        return "2026-03-01"
    if kind == "datetime":
        return "2026-03-01T14:30:00+01:00"
    if kind == "checkbox":
        return True
    if field.get("format") == "email":
        return f"person{index}@example.org"
    if field.get("format") == "phone":
        return "+44 20 7946 0958"
    if "pattern" in field:
        return "AB-1234"
    return f"Answer {index}"
