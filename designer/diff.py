"""A readable difference between two versions of a form: what a process owner would say.

Fields are matched by key. A field whose key disappeared is taken as *renamed* to a
new key when the new field has the same label, or else the same type at the same
position; otherwise it is removed and the other one added. Pure: plain data in,
sentences out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

#: How properties are named in the sentences.
PROPERTY_WORDS = {
    "label": "label",
    "help": "help text",
    "required": "required",
    "required_if": "the rule that requires it",
    "visible_if": "the rule that shows it",
    "default": "default",
    "min_length": "shortest length",
    "max_length": "longest length",
    "min": "lowest value",
    "max": "highest value",
    "min_items": "fewest choices",
    "max_items": "most choices",
    "min_rows": "fewest rows",
    "max_rows": "most rows",
    "max_files": "most files",
    "max_size": "largest file size",
    "expr": "calculation",
}


@dataclass(frozen=True, slots=True)
class Change:
    """One difference: its kind (added, removed, renamed, changed, moved, form), in words."""

    kind: str
    field: str
    text: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "field": self.field, "text": self.text}


def _fields(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    # A draft is stored as sent: anything that is not a field is left out of the comparison.
    lists = [p.get("fields") for p in doc.get("pages") or [] if isinstance(p, Mapping)]
    if not isinstance(doc.get("pages"), list):
        lists = [doc.get("fields")]
    return [f for fields in lists if isinstance(fields, list) for f in fields if _is_field(f)]


def _is_field(value: Any) -> bool:
    return isinstance(value, Mapping) and isinstance(value.get("key", ""), str)


def _words(value: Any) -> str:
    if value is None:
        return "nothing"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, str):
        return f"'{value}'"
    return json.dumps(value, ensure_ascii=False)


def _name(field: Mapping[str, Any]) -> str:
    return f"'{field.get('label') or field.get('key')}'"


def diff_forms(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Return the differences from `old` to `new`, form-level first, then field by field."""
    changes = list(_form_changes(old, new))
    old_fields, new_fields = _fields(old), _fields(new)
    old_keys = {f.get("key"): i for i, f in enumerate(old_fields)}
    new_keys = {f.get("key"): i for i, f in enumerate(new_fields)}
    renamed = _renames(old_fields, new_fields, old_keys, new_keys)
    pairs: list[tuple[Mapping[str, Any], Mapping[str, Any]]] = []
    for index, field in enumerate(old_fields):
        key = field.get("key")
        if key in new_keys:
            pairs.append((field, new_fields[new_keys[key]]))
        elif index in renamed:
            after = new_fields[renamed[index]]
            changes.append(
                Change(
                    "renamed",
                    str(after.get("key")),
                    f"{_name(field)}: the key was renamed from '{key}' to '{after.get('key')}'",
                )
            )
            pairs.append((field, after))
        else:
            changes.append(Change("removed", str(key), f"the field {_name(field)} was removed"))
    taken = set(renamed.values())
    for index, field in enumerate(new_fields):
        if field.get("key") not in old_keys and index not in taken:
            changes.append(
                Change(
                    "added",
                    str(field.get("key")),
                    f"the {field.get('type')} field {_name(field)} was added "
                    f"at position {index + 1}",
                )
            )
    for before, after in pairs:
        changes.extend(_field_changes(before, after))
    changes.extend(_moves(pairs, old_fields, new_fields))
    return changes


def _renames(
    old_fields: list[Mapping[str, Any]],
    new_fields: list[Mapping[str, Any]],
    old_keys: Mapping[Any, int],
    new_keys: Mapping[Any, int],
) -> dict[int, int]:
    gone = [i for i, f in enumerate(old_fields) if f.get("key") not in new_keys]
    fresh = [i for i, f in enumerate(new_fields) if f.get("key") not in old_keys]
    found: dict[int, int] = {}
    for i in gone:
        label = old_fields[i].get("label")
        same = [j for j in fresh if j not in found.values() and new_fields[j].get("label") == label]
        if not same and i in fresh and new_fields[i].get("type") == old_fields[i].get("type"):
            same = [i] if i not in found.values() else []
        if same:
            found[i] = same[0]
    return found


def _form_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> Iterator[Change]:
    for name in ("title", "description"):
        if old.get(name) != new.get(name):
            yield Change(
                "form",
                "",
                f"the form's {name} changed from {_words(old.get(name))} "
                f"to {_words(new.get(name))}",
            )
    old_pages, new_pages = len(old.get("pages") or []), len(new.get("pages") or [])
    if old_pages != new_pages:
        yield Change("form", "", f"the form has {new_pages or 'no'} pages (it had {old_pages})")


def _field_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> Iterator[Change]:
    key = str(after.get("key"))
    name = _name(after)
    for prop in sorted((set(before) | set(after)) - {"key", "options", "columns"}):
        old, new = before.get(prop), after.get(prop)
        if old == new:
            continue
        words = PROPERTY_WORDS.get(prop, prop.replace("_", " "))
        if old is None:
            text = f"{name}: {words} set to {_words(new)}"
        elif new is None:
            text = f"{name}: {words} removed (it was {_words(old)})"
        else:
            text = f"{name}: {words} changed from {_words(old)} to {_words(new)}"
        yield Change("changed", key, text)
    yield from _option_changes(key, name, before.get("options"), after.get("options"))
    if before.get("columns") != after.get("columns"):
        old_cols = {c.get("key") for c in before.get("columns") or []}
        new_cols = {c.get("key") for c in after.get("columns") or []}
        parts = [f"column '{c}' added" for c in sorted(new_cols - old_cols, key=str)]
        parts += [f"column '{c}' removed" for c in sorted(old_cols - new_cols, key=str)]
        yield Change("changed", key, f"{name}: " + (", ".join(parts) or "columns changed"))


def _option_changes(key: str, name: str, old: Any, new: Any) -> Iterator[Change]:
    if old == new:
        return
    old_values = [_option_value(o) for o in old or []]
    new_values = [_option_value(o) for o in new or []]
    added = [v for v in new_values if v not in old_values]
    removed = [v for v in old_values if v not in new_values]
    parts = [f"option {_words(v)} added" for v in added]
    parts += [f"option {_words(v)} removed" for v in removed]
    if not parts:
        kept = [v for v in new_values if v in old_values]
        parts = ["option labels changed" if kept == old_values else "options reordered"]
    yield Change("changed", key, f"{name}: " + ", ".join(parts))


def _option_value(option: Any) -> Any:
    return option.get("value") if isinstance(option, Mapping) else option


def _moves(
    pairs: list[tuple[Mapping[str, Any], Mapping[str, Any]]],
    old_fields: list[Mapping[str, Any]],
    new_fields: list[Mapping[str, Any]],
) -> Iterator[Change]:
    # The fields that kept their order are the longest common subsequence; the rest moved.
    old_index = {id(b): i for i, b in enumerate(old_fields)}
    new_index = {id(a): i for i, a in enumerate(new_fields)}
    by_new = sorted(pairs, key=lambda p: new_index[id(p[1])])
    stayed = _longest_increasing([old_index[id(b)] for b, _ in by_new])
    for position, (before, after) in enumerate(by_new):
        if position not in stayed:
            yield Change(
                "moved",
                str(after.get("key")),
                f"{_name(after)} moved from position {old_index[id(before)] + 1} "
                f"to {new_index[id(after)] + 1}",
            )


def _longest_increasing(values: list[int]) -> set[int]:
    """Return the positions of one longest increasing subsequence of `values`."""
    best: list[int] = [1] * len(values)
    back: list[int] = [-1] * len(values)
    for i, value in enumerate(values):
        for j in range(i):
            if values[j] < value and best[j] + 1 > best[i]:
                best[i], back[i] = best[j] + 1, j
    found: set[int] = set()
    at = max(range(len(values)), key=best.__getitem__, default=-1)
    while at != -1:
        found.add(at)
        at = back[at]
    return found
