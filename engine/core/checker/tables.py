"""Checks on decision tables: row widths, cells that can never match, rows that never win."""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator, Mapping
from typing import Any

from engine.core.checker.dataflow import Flow
from engine.core.checker.points import anywhere, at_step
from engine.core.checker.words import among, literal, never_an_option
from engine.core.errors import Problem
from engine.core.fields import TYPE_WORDS, FieldInfo, literal_fits
from engine.core.tables import ANY, comparable, in_range, range_words


def check_tables(doc: Mapping[str, Any], flow: Flow) -> Iterator[Problem]:
    """Report rows of the wrong width, rows hidden by earlier ones, and lookups that misread."""
    tables = doc.get("tables", {})
    for key, table in tables.items():
        width = len(table["inputs"])
        for index, row in enumerate(table["rows"]):
            if len(row["when"]) != width:
                yield Problem(
                    f"/tables/{key}/rows/{index}/when",
                    f"this row has {len(row['when'])} cells but the table has "
                    f"{width} inputs ({', '.join(table['inputs'])})",
                )
        yield from _hidden_rows(key, table)
        yield from _gaps(key, table)
        yield from _inputs(flow, key, table)
    for step_id, (step, pointer) in flow.steps.items():
        growing: dict[str, FieldInfo] = {}
        for name, spec in step.get("set", {}).items():
            if spec.get("lookup") in tables:
                yield from _lookup(flow, step_id, growing, f"{pointer}/set/{name}/lookup", spec)
            growing[name] = flow.info_of(name, spec)


def _lookup(
    flow: Flow, step_id: str, growing: dict[str, FieldInfo], pointer: str, spec: Mapping[str, Any]
) -> Iterator[Problem]:
    key = spec["lookup"]
    table = flow.doc["tables"][key]
    here = at_step(flow, step_id).with_fields(growing)
    for column, field_name in enumerate(table["inputs"]):
        info = here.info(field_name)
        if info is None:
            why = here.unknown(field_name)
            if why is not None and not _never_filled(flow, field_name):
                yield Problem(pointer, f"table '{key}' reads '{field_name}': {why}")
            continue
        yield from _cells(key, table, column, field_name, info)


def _inputs(flow: Flow, key: str, table: Mapping[str, Any]) -> Iterator[Problem]:
    """Report an input no form or step fills in at the table, where the typo is."""
    everywhere = anywhere(flow)
    for column, name in enumerate(table["inputs"]):
        if not _never_filled(flow, name):
            continue
        why = everywhere.unknown(name)
        if why is not None and everywhere.open:
            yield Problem(f"/tables/{key}/inputs/{column}", why)
        elif why is not None:
            yield Problem(
                f"/tables/{key}/inputs/{column}",
                f"no form or step fills in '{name}', so the table can never read it"
                f"{among(everywhere.names(), name)}",
            )


def _never_filled(flow: Flow, name: str) -> bool:
    """Tell whether no form or step fills in a field anywhere in the flow."""
    return anywhere(flow).info(name) is None


def _cells(
    key: str, table: Mapping[str, Any], column: int, name: str, info: FieldInfo
) -> Iterator[Problem]:
    for index, row in enumerate(table["rows"]):
        if column >= len(row["when"]):
            continue
        cell = row["when"][column]
        if isinstance(cell, dict):
            where = f"/tables/{key}/rows/{index}/when/{column}"
            for message in _range_problems(name, info, cell):
                yield Problem(where, message)
            continue
        for value in cell if isinstance(cell, list) else [cell]:
            if value == ANY and not isinstance(cell, list):
                continue
            where = f"/tables/{key}/rows/{index}/when/{column}"
            if not literal_fits(info.type, value):
                yield Problem(
                    where,
                    f"'{name}' holds {TYPE_WORDS.get(info.type, info.type)}, "
                    f"so {literal(value)} can never match",
                )
            elif info.options is not None and value is not None and value not in info.options:
                yield Problem(where, never_an_option(name, value, info.options))


#: The kinds of value a range can hold.
ORDERED = frozenset({"number", "date", "datetime", "any"})


def _range_problems(name: str, info: FieldInfo, cell: Mapping[str, Any]) -> Iterator[str]:
    """Say why a range cell can never match its input, if it cannot."""
    kind = info.type
    if kind not in ORDERED:
        yield (
            f"'{name}' holds {TYPE_WORDS.get(kind, kind)}, which has no order, so a range "
            f"({range_words(cell)}) can never match it; list the values the row matches"
        )
        return
    wrong = [bound for bound in cell.values() if not literal_fits(kind, bound)]
    for bound in wrong:
        yield (
            f"'{name}' holds {TYPE_WORDS.get(kind, kind)}, so a range bound of "
            f"{literal(bound)} can never match"
        )
    if not wrong and _holds_nothing(cell):
        yield f"no value is {range_words(cell)}, so this range can never match"


def _holds_nothing(cell: Any) -> bool:
    """Tell whether a range cell's bounds leave no value between them."""
    if not isinstance(cell, dict):
        return False
    lower, upper = _bound(cell, ("ge", "gt")), _bound(cell, ("le", "lt"))
    pair = comparable(lower[1], upper[1]) if lower and upper else None
    if lower is None or upper is None or pair is None:
        return False
    closed = lower[0] == "ge" and upper[0] == "le"  # equal bounds then hold one value
    return bool(pair[0] > pair[1] or (pair[0] == pair[1] and not closed))


def _bound(cell: Mapping[str, Any], names: tuple[str, str]) -> tuple[str, Any] | None:
    return next(((n, cell[n]) for n in names if n in cell), None)


def _hidden_rows(key: str, table: Mapping[str, Any]) -> Iterator[Problem]:
    """Report rows that an earlier row always beats (the first matching row wins)."""
    rows = [row["when"] for row in table["rows"]]
    width = len(table["inputs"])
    catch_all = None
    for index, cells in enumerate(rows):
        if len(cells) != width or any(_holds_nothing(cell) for cell in cells):
            continue  # reported as the wrong width, or as a range that holds nothing
        for earlier in range(index):
            if len(rows[earlier]) == width and _covers(rows[earlier], cells):
                yield Problem(
                    f"/tables/{key}/rows/{index}",
                    f"this row can never be used: row {earlier + 1} above it matches "
                    "everything this one does, and the first matching row wins",
                )
                break
        if catch_all is None and all(cell == ANY for cell in cells):
            catch_all = index
    if catch_all is not None and "default" in table:
        yield Problem(
            f"/tables/{key}/default",
            f"the default is never used: row {catch_all + 1} matches everything",
        )


def _gaps(key: str, table: Mapping[str, Any]) -> Iterator[Problem]:
    """Report a number no row matches between two rows' ranges, in a table without a default
    (`lt 5000`, then `gt 5000`: exactly 5000 got nothing, and the step after the lookup
    went its other way). An input is read when every row says nothing of the others ("-"):
    where a row names another input's value, what it covers depends on that value. The
    ends (below every row, above every row) are left alone: a form's own limits may keep
    values out there."""
    if "default" in table:
        return
    rows = [row["when"] for row in table["rows"] if len(row["when"]) == len(table["inputs"])]
    for column, name in enumerate(table["inputs"]):
        spans = []
        for cells in rows:
            if any(cell != ANY for at, cell in enumerate(cells) if at != column):
                break
            span = _span(cells[column])
            if span is None:
                break  # not numbers alone in this column: nothing to say of it
            spans.append(span)
        else:
            hole = _first_hole(spans)
            if hole is not None:
                yield Problem(
                    f"/tables/{key}/rows",
                    f"no row matches {name} {hole}, and the table has no default: a lookup "
                    f"of it gives nothing; make the rows meet (lt 5000, then ge 5000) or give "
                    f"a default",
                )


#: A range of numbers: its lower and upper bounds, each a number and whether it is held
#: (None: no bound there).
Span = tuple[tuple[float, bool] | None, tuple[float, bool] | None]


def _span(cell: Any) -> Span | None:
    """The numbers a cell matches as one range, or None when it is not numbers alone."""
    if cell == ANY:
        return None, None
    if isinstance(cell, dict):
        bounds = list(cell.values())
        if not bounds or not all(_is_number(b) for b in bounds):
            return None
        lower = _bound(cell, ("ge", "gt"))
        upper = _bound(cell, ("le", "lt"))
        return (
            (float(lower[1]), lower[0] == "ge") if lower else None,
            (float(upper[1]), upper[0] == "le") if upper else None,
        )
    values = _listed(cell)
    if len(values) == 1 and _is_number(values[0]):
        return (float(values[0]), True), (float(values[0]), True)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _first_hole(spans: list[Span]) -> str | None:
    """Say the first numbers between the rows' spans that none of them holds."""
    if len(spans) < 2 or any(lower is None and upper is None for lower, upper in spans):
        return None
    # Walk from the lowest start: what is covered so far ends at `reach`.
    ordered = sorted(
        spans, key=lambda s: (-math.inf, True) if s[0] is None else (s[0][0], not s[0][1])
    )
    reach = ordered[0][1]
    for lower, upper in ordered[1:]:
        if reach is None:
            return None  # covered up to the top
        if lower is not None and (
            lower[0] > reach[0] or (lower[0] == reach[0] and not lower[1] and not reach[1])
        ):
            if lower[0] == reach[0]:
                return f"of exactly {_said(lower[0])}"
            low = "from" if not reach[1] else "above"
            high = "up to" if not lower[1] else "below"
            return f"{low} {_said(reach[0])} {high} {_said(lower[0])}"
        if upper is None or upper[0] > reach[0] or (upper[0] == reach[0] and upper[1]):
            reach = upper
    return None


def _said(number: float) -> str:
    return str(int(number)) if number.is_integer() else str(number)


def _covers(earlier: list[Any], later: list[Any]) -> bool:
    for first, second in zip(earlier, later, strict=True):
        if first == ANY:
            continue
        if second == ANY:
            return False
        if isinstance(first, dict):
            inside = (
                _within(second, first)
                if isinstance(second, dict)
                else all(in_range(first, value) for value in _listed(second))
            )
            if not inside:
                return False
        elif isinstance(second, dict) or not _values(second) <= _values(first):
            return False
    return True


def _listed(cell: Any) -> list[Any]:
    return cell if isinstance(cell, list) else [cell]


def _within(inner: Mapping[str, Any], outer: Mapping[str, Any]) -> bool:
    """Tell whether every value of the range `inner` lies in the range `outer`."""
    for names, tighter in ((("ge", "gt"), operator.gt), (("le", "lt"), operator.lt)):
        limit = _bound(outer, names)
        if limit is None:
            continue
        mine = _bound(inner, names)
        pair = comparable(mine[1], limit[1]) if mine is not None else None
        if mine is None or pair is None:
            return False
        if pair[0] == pair[1]:
            # Equal bounds: an open outer bound (more than, less than) leaves out the value
            # a closed inner one (at least, at most) keeps.
            if limit[0] in ("gt", "lt") and mine[0] in ("ge", "le"):
                return False
        elif not tighter(*pair):
            return False
    return True


def _values(cell: Any) -> set[tuple[bool, Any]]:
    # `true` and 1 are different cells (see `conditions.equals`), unlike in a Python set.
    return {(isinstance(v, bool), v) for v in (cell if isinstance(cell, list) else [cell])}
