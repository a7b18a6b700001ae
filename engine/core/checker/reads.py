"""Checks on what each step reads: conditions, expressions, templates and the fields it names.

Each read is checked against the fields that can exist where it runs (see
`dataflow`) and against what they hold: a comparison with a value of another kind
or one that is not an option, a `wait` until something that is not a date, a
reviewer list that is not a list.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from engine.core.checker.dataflow import Flow
from engine.core.checker.escalations import outcomes
from engine.core.checker.jsontext import pointer_to
from engine.core.checker.kinds import NULL_WORDS, check_tree, parse_expression, parse_template
from engine.core.checker.narrowing import decided_on
from engine.core.checker.points import At, anywhere, at_start, at_step
from engine.core.checker.words import literal, never_an_option, not_a_level, option_list, wrong_kind
from engine.core.conditions import ORDERING, UNARY, comparisons, expressions
from engine.core.errors import Problem
from engine.core.expressions import inspect_expression, inspect_template, is_template
from engine.core.fields import TYPE_WORDS, FieldInfo, literal_fits

#: Names a structured condition cannot read: expressions see them, data has no such field.
NOT_DATA = {
    "data": "a structured condition reads a data field by its own name: write '{rest}'",
    "instance": "a structured condition reads data fields only; to test '{name}', write the "
    "condition as an expression, like \"{name} == '…'\"",
}

#: `{name}`, `${name}`, `$name`, `{{name}` written where a template means `{{ name }}`.
_NOT_A_PLACEHOLDER = re.compile(r"(?<!\{)\$?\{\s*([A-Za-z_][\w.]*)\s*\}(?!\})|\$([A-Za-z_][\w.]*)")

#: A template that only fills in one field: `{{ manager }}`.
_ONE_FIELD = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}")

#: Mistakes in the syntax of other languages, and what expressions want instead.
_SYNTAX_HINTS = (
    (re.compile(r"===|!=="), "compare with == and !="),
    (re.compile(r"[<>!=]\s+="), "write >=, <=, != and == without a space inside"),
    (re.compile(r"=>|=<"), "write >= and <=: the = comes last"),
    (re.compile(r"(?<![=!<>])=(?![=<>])"), "compare with ==; a single = is not a comparison"),
    (re.compile(r"&&|\|\|"), "join conditions with and / or"),
    (re.compile(r"!(?!=)"), "negate with not"),
)


def check_reads(doc: Mapping[str, Any], flow: Flow) -> list[Problem]:
    """Check every condition, expression, template and field name against the flow."""
    problems: list[Problem] = []
    if "title" in doc.get("start", {}):
        problems += template(doc["start"]["title"], "/start/title", at_start(flow))
    for step_id, (step, pointer) in flow.steps.items():
        problems += _step(flow, at_step(flow, step_id), step, pointer, step_id)
    everywhere = anywhere(flow)
    for index, name in enumerate(doc.get("requester_sees", ())):
        if not everywhere.open and everywhere.info(name) is None:
            problems.append(
                Problem(
                    f"/requester_sees/{index}",
                    f"no form or step fills in '{name}', so there is nothing to show",
                )
            )
    sla = doc.get("sla")
    if sla and not flow.open:
        field_name = sla.get("targets_by", "priority")
        if everywhere.info(field_name) is None:
            problems.append(
                Problem(
                    "/sla/targets_by",
                    f"no form or step fills in '{field_name}', "
                    "so no SLA target could ever be chosen",
                )
            )
    return problems


def _step(flow: Flow, at: At, step: Mapping[str, Any], pointer: str, step_id: str) -> list[Problem]:
    problems: list[Problem] = []
    kind = step["type"]
    if "title" in step:
        problems += template(step["title"], f"{pointer}/title", at)
    elif kind in ("task", "approval", "review") and "label" in step:
        problems += template(step["label"], f"{pointer}/label", at)  # the default title
    if "instructions" in step and is_template(step["instructions"]):
        problems.append(
            Problem(
                f"{pointer}/instructions",
                "instructions are plain text: the {{ … }} parts would be shown as written; "
                "put what comes from the data in the title",
            )
        )
    if "auto_approve" in step:
        problems += condition(step["auto_approve"], f"{pointer}/auto_approve", at)
    for index, name in enumerate(step.get("show", ())):
        problems += field_named(name, f"{pointer}/show/{index}", at)
    for index, branch in enumerate(step.get("branches", []) if kind == "decision" else []):
        problems += condition(branch["when"], f"{pointer}/branches/{index}/when", at)
    problems += _sets(flow, at, step, pointer)
    if kind == "wait" and "until" in step:
        problems += _until(step, pointer, at)
    if kind == "review" and isinstance(step.get("reviewers"), dict):
        source = step["reviewers"]["from"]
        kinds = ("list", "any", "string")
        problems += field_named(
            source, f"{pointer}/reviewers/from", at, kinds, "a user name or a list of them"
        )
        info = at.info(source)
        if info is not None and info.type == "string":
            problems += _one_reviewer(step, pointer, source)
        if info is not None and at.may_be_missing(source) and not decided_on(flow, source, step_id):
            problems.append(
                Problem(
                    f"{pointer}/reviewers/from",
                    f"'{source}' may not be filled in here ({at.maybe_why(source)}), and a "
                    "review with nobody to vote stops on an incident that a retry cannot mend: "
                    "make it required on its form, or decide before this step whether it is "
                    "filled in",
                )
            )
    for child, mine in step.get("data", {}).items():
        passed = _passed_value(child, mine, at)
        if passed is not None:
            problems.append(Problem(f"{pointer}/data/{child}", passed))
            continue
        problems += field_named(mine, f"{pointer}/data/{child}", at)
    problems += _permissions(flow, step, pointer)
    return problems


def _passed_value(child: str, mine: str, at: At) -> str | None:
    """Say why `instance.…` or `data.…` cannot be passed to a subflow: `data` names fields."""
    root, _dot, rest = mine.partition(".")
    if root not in NOT_DATA or anywhere(at.flow).info(root) is not None:
        return None
    if root == "data":
        return f"subflow data names a field of this workflow by its own name: write '{rest}'"
    return (
        f"subflow data maps each field of the child's start form to a field of this "
        f"workflow, so '{mine}' would be a field, and there is none; to pass it, set a "
        f'field to it in an action first, like "set": {{"{child}": {{"expr": "{mine}"}}}}'
    )


def _one_reviewer(step: Mapping[str, Any], pointer: str, source: str) -> list[Problem]:
    """A review whose reviewers come from a field of one name has one reviewer: check the
    quorum and the rejections it asks for against that."""
    one = f"'{source}' holds one user name, so there is one reviewer"
    quorum, reject = step.get("quorum"), step.get("reject")
    problems = []
    if isinstance(quorum, int) and quorum > 1:
        problems.append(
            Problem(
                f"{pointer}/quorum", f"the quorum of {quorum} approvals can never be reached: {one}"
            )
        )
    if isinstance(reject, Mapping) and reject.get("count", 1) > 1:
        problems.append(
            Problem(
                f"{pointer}/reject/count",
                f"{reject['count']} rejections can never happen: {one}",
            )
        )
    return problems


def _permissions(flow: Flow, step: Mapping[str, Any], pointer: str) -> list[Problem]:
    """Check that a step's `fields` rules name fields of its form."""
    rules = step.get("fields", {})
    if not rules:
        return []
    if "form" not in step:
        return [Problem(f"{pointer}/fields", "this step has no form, so it has no fields to set")]
    infos = flow.form_fields(step["form"])
    if infos is None:
        return []  # an unknown form is reported as such
    keys = {info.key for info in infos}
    return [
        Problem(
            f"{pointer}/fields/{name}",
            f"the form '{step['form']}' has no field '{name}'; its fields are: "
            f"{', '.join(sorted(keys))}",
        )
        for name in rules
        if name not in keys
    ]


def _sets(flow: Flow, at: At, step: Mapping[str, Any], pointer: str) -> Iterator[Problem]:
    growing: dict[str, FieldInfo] = {}
    for name, spec in step.get("set", {}).items():
        where = f"{pointer}/set/{name}"
        root = name.split(".")[0]
        if root in ("data", "instance", "outcome"):
            yield Problem(
                where,
                f"expressions use '{root}' for something else, so they would never see a field "
                "set under this name; choose another name",
            )
        if "expr" in spec:
            # What the action itself sets later, or set before it ran, is no stranger here:
            # a counter reads its own field, missing the first time.
            own = {n: FieldInfo(n) for n in step["set"] if n not in growing and at.info(n) is None}
            here = at.with_fields({**own, **growing}, frozenset(own))
            yield from expression(spec["expr"], f"{where}/expr", here, True)
        templated = _templated(spec["value"]) if "value" in spec else None
        if templated is not None:
            yield Problem(
                f"{where}/value{templated}",
                "a value is set exactly as written, braces and all; to compute it from the "
                'data, use {"expr": "…"} with the expression alone' + _as_expression(spec["value"]),
            )
        growing[name] = flow.info_of(name, spec)


def _templated(value: Any) -> str | None:
    """Return where in a `set` value (a JSON Pointer below it) a text with {{ }} is, if any."""
    if isinstance(value, str):
        return "" if is_template(value) else None
    if not isinstance(value, dict | list):
        return None
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        found = _templated(item)
        if found is not None:
            return f"/{pointer_to(str(key))}{found}"
    return None


def _as_expression(value: Any) -> str:
    """Write a list of `{{ field }}` and plain texts as the expression it meant, if it is one."""
    if not isinstance(value, list) or not value:
        return ""
    parts = []
    for item in value:
        match = _ONE_FIELD.fullmatch(item) if isinstance(item, str) else None
        if match is not None:
            parts.append(match.group(1))
        elif isinstance(item, str) and not is_template(item) and "'" not in item:
            parts.append(f"'{item}'")
        else:
            return ""
    listed = ", ".join(parts)
    return f', like {{"expr": "[{listed}]"}}'


def _until(step: Mapping[str, Any], pointer: str, at: At) -> list[Problem]:
    name = step["until"]
    problems = field_named(name, f"{pointer}/until", at, ("date", "datetime", "any"), "a date")
    if "calendar" in step:
        problems.append(
            Problem(
                f"{pointer}/calendar",
                "a calendar counts the working time of a 'for'; a wait 'until' a date ends "
                "at that moment whatever the calendar says, so it is ignored here",
            )
        )
    return problems


def field_named(
    name: str, pointer: str, at: At, kinds: tuple[str, ...] = (), wanted: str = ""
) -> list[Problem]:
    """Check a field named by a step (in `show`, `until`, `data`...): it exists, of a kind."""
    info = at.info(name)
    if info is None:
        why = at.unknown(name)
        return [] if why is None else [Problem(pointer, why)]
    if kinds and info.type not in kinds:
        return [
            Problem(
                pointer,
                f"'{name}' holds {TYPE_WORDS.get(info.type, info.type)}, "
                f"but {wanted} is needed here",
            )
        ]
    return []


# Templates and expressions -------------------------------------------------------------------


def template(source: str, pointer: str, at: At, strict: bool = True) -> list[Problem]:
    """Check a template: its syntax, what it may do, the fields it reads and their kinds."""
    if not is_template(source):
        return [Problem(pointer, message) for message in placeholders(source, at)]
    inspection = inspect_template(source)
    if inspection.problems:  # the first is enough to fix: the others often echo it
        return [Problem(pointer, inspection.problems[0])]
    problems = _unknown_names(inspection.fields, pointer, at)
    tree = parse_template(source)
    if tree is not None:
        problems += [Problem(pointer, message) for message in check_tree(tree, at, strict=strict)]
    return problems


def placeholders(text: str, at: At) -> list[str]:
    """Report `{name}` or `$name` written in plain text where `{{ name }}` was meant.

    Only names of fields (or `instance.…`) count: a title may well say "{draft}".
    """
    found = []
    for match in _NOT_A_PLACEHOLDER.finditer(text):
        name = match.group(1) or match.group(2)
        root = name.split(".")[0]
        if root == "instance" or anywhere(at.flow).info(root) is not None:
            found.append(
                f"'{match.group(0)}' is shown as it is written; to fill in a field, "
                f"write {{{{ {name} }}}}"
            )
    return found


def expression(source: str, pointer: str, at: At, strict: bool = False) -> list[Problem]:
    """Check an expression: its syntax, what it may do, the fields it reads and their kinds."""
    stripped = source.strip()
    if stripped.startswith("{{") and stripped.endswith("}}"):
        inner = stripped[2:-2].strip()
        return [Problem(pointer, f"an expression is written without {{{{ }}}}: write '{inner}'")]
    inspection = inspect_expression(source)
    if inspection.problems:  # the first is enough to fix: the others often echo it
        return [Problem(pointer, _with_hint(inspection.problems[0], source))]
    problems = _unknown_names(inspection.fields, pointer, at, source)
    tree = parse_expression(source)
    if tree is not None:
        problems += [Problem(pointer, message) for message in check_tree(tree, at, strict=strict)]
    return problems


def _with_hint(message: str, source: str) -> str:
    if "does not parse" not in message:
        return message
    for pattern, hint in _SYNTAX_HINTS:
        if pattern.search(_without_strings(source)):
            return f"{message} ({hint})"
    return message


def _without_strings(source: str) -> str:
    return re.sub(r"'[^']*'|\"[^\"]*\"", "''", source)


def _unknown_names(names: frozenset[str], pointer: str, at: At, source: str = "") -> list[Problem]:
    problems = []
    for name in sorted(names - NULL_WORDS):
        why = at.unknown(name, _compared_with_outcome(name, source, at))
        if why is not None:
            problems.append(Problem(pointer, why))
    return problems


def _compared_with_outcome(name: str, source: str, at: At) -> bool:
    """Tell whether a name read is a step's, next to one of that step's outcomes."""
    step = at.flow.steps.get(name)
    return step is not None and any(
        f"'{outcome}'" in source or f'"{outcome}"' in source for outcome in outcomes(step[0])
    )


# Conditions ----------------------------------------------------------------------------------


def condition(condition: Any, pointer: str, at: At) -> list[Problem]:
    """Check a condition in either form.

    An expression that cannot be worked out stops the step with an incident, so what
    would fail on a missing field is reported; a structured comparison with a missing
    field is simply false.
    """
    problems: list[Problem] = []
    for where, source in expressions(condition, pointer):
        problems += expression(source, where, at, strict=True)
    for where, comparison in comparisons(condition, pointer):
        problems += list(_comparison(comparison, where, at))
    return problems


def _comparison(comparison: Mapping[str, Any], pointer: str, at: At) -> Iterator[Problem]:
    name, op = comparison["field"], comparison["op"]
    root, _dot, rest = name.partition(".")
    if root in NOT_DATA and anywhere(at.flow).info(root) is None:
        yield Problem(f"{pointer}/field", NOT_DATA[root].format(rest=rest or root, name=name))
        return
    if root == "outcome" and anywhere(at.flow).info(root) is None:
        yield Problem(
            f"{pointer}/field",
            "'outcome' is not kept in the data: the outcome a person chooses only picks the "
            "route in 'on'; route on it there",
        )
        return
    info = at.info(name)
    if info is None:
        values = comparison.get("value")
        said = " ".join(f"'{v}'" for v in (values if isinstance(values, list) else [values]))
        why = at.unknown(name, _compared_with_outcome(name, said, at))
        if why is not None:
            yield Problem(f"{pointer}/field", why)
        return
    if op in UNARY:
        return
    value = comparison["value"]
    for message in dict.fromkeys(_value_problems(name, info, op, value, at)):
        yield Problem(f"{pointer}/value", message)


def _value_problems(name: str, info: FieldInfo, op: str, value: Any, at: At) -> Iterator[str]:
    kind = info.type
    if op == "contains":
        yield from _contains(name, info, value)
        return
    values = value if isinstance(value, list) and op in ("in", "not_in") else [value]
    if kind in ("list", "table") and not any(isinstance(item, list) for item in values):
        if any(item is not None for item in values):
            word = "equals" if op in ("eq", "ne") else "is one of"
            yield (
                f"'{name}' holds {TYPE_WORDS[kind]}, so it never {word} {literal(value)}; "
                "use contains to look for one item"
            )
        return
    if op in ORDERING:
        if kind == "file":
            yield f"'{name}' holds a file, which has no order: {op} can never be right"
            return
        if info.choice and kind == "string":
            yield (
                f"'{name}' is a choice among {option_list(info.options)}, and choices have "
                "no order: compare it with eq or in"
            )
            return
    for item in values:
        if not literal_fits(kind, item):
            yield wrong_kind(name, kind, item)
        elif op in ("eq", "ne", "in", "not_in") and item is not None:
            yield from _not_held(name, info, item, at)


def _not_held(name: str, info: FieldInfo, item: Any, at: At) -> Iterator[str]:
    flow = at.flow
    if flow.declared and name == flow.priority_field and isinstance(item, str):
        if item not in flow.declared:
            yield not_a_level(item, flow.declared)
    elif info.options is not None and item not in info.options:
        yield never_an_option(name, item, info.options)


def _contains(name: str, info: FieldInfo, value: Any) -> Iterator[str]:
    kind = info.type
    if kind in ("number", "boolean", "file"):
        yield f"'{name}' holds {TYPE_WORDS[kind]}; contains looks inside a text or a list"
    elif kind in ("date", "datetime"):
        yield (
            f"'{name}' holds {TYPE_WORDS[kind]}; contains looks inside a text or a list: "
            "compare dates with lt, le, gt or ge"
        )
    elif kind == "list" and info.options is not None and value not in info.options:
        yield f"'{name}' never holds {literal(value)}: its options are {option_list(info.options)}"
    elif kind == "string" and not isinstance(value, str) and value is not None:
        yield wrong_kind(name, kind, value)
