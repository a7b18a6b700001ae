"""Checks on how an instance starts: what the portal offers, what the start form can know.

A workflow is offered on the public portal only with a start form to fill in. A
start form sends no outcome (only a task's buttons give one), so a rule of the form
that reads `outcome` sees nothing when the form starts an instance.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from jinja2 import nodes

from engine.core.checker.kinds import parse_expression
from engine.core.conditions import expressions
from engine.core.errors import Problem
from engine.core.schema import iter_steps

#: The properties of a form field that hold a rule.
RULES = ("visible_if", "required_if")

#: Step types whose form a person fills in while finishing a task, with an outcome.
WITH_OUTCOME = frozenset({"task", "approval", "review"})


def check_start(
    doc: Mapping[str, Any], outcome_rules: Mapping[str, tuple[str, ...]] | None
) -> Iterator[Problem]:
    """Report `public` without a start form, `by` and `reopen` that cannot hold, and a start
    form's rules that read `outcome`.

    `outcome_rules` gives, for each known form, where its rules read `outcome` (see
    `rules_reading_outcome`); a form some step of this workflow also uses for a task
    is left alone: there its rules see the button pressed.
    """
    start = doc.get("start", {})
    if start.get("public") is True and "form" not in start:
        yield Problem(
            "/start/public",
            "there is no start form to offer on the public portal, so the workflow is not "
            "offered there; name the form in 'form'",
        )
    yield from _starters(start)
    yield from _reopen(doc)
    key = start.get("form")
    found = (outcome_rules or {}).get(key or "", ())
    if not found or _used_on_a_task(doc, key):
        return
    yield Problem(
        "/start/form",
        f"the rule at {found[0]} of the form '{key}' reads 'outcome', but an instance starts "
        "without one (only a task's buttons give an outcome), so the rule never sees it when "
        "this form starts an instance; write the rule on the form's fields",
    )


def _starters(start: Mapping[str, Any]) -> Iterator[Problem]:
    """Report a `by` that says otherwise than `public`, and "anyone" with no form to offer."""
    by = start.get("by")
    if by is None:
        return
    if start.get("public") is True and by != "anyone":
        who = "anyone signed in" if by == "signed_in" else "members of " + ", ".join(by)
        yield Problem(
            "/start/by",
            f"'public' lets anyone start the workflow, but 'by' lets only {who}; "
            "keep one of the two",
        )
    elif by == "anyone" and "form" not in start and start.get("public") is not True:
        yield Problem(
            "/start/by",
            "there is no start form to offer people without an account, so nobody without "
            "one can start the workflow; name the form in 'form'",
        )


def _reopen(doc: Mapping[str, Any]) -> Iterator[Problem]:
    """Report a `reopen` step that is not there, is an end, or sits inside a parallel step."""
    if "reopen" not in doc:
        return
    to = doc["reopen"]["to"]
    found = {
        sid: (step, parallel) for sid, step, _pointer, parallel, _branch in iter_steps(doc["steps"])
    }
    if to not in found:
        yield Problem("/reopen/to", f"there is no step '{to}' to reopen at")
    elif found[to][1] is not None:
        yield Problem(
            "/reopen/to",
            f"'{to}' is a step of a parallel branch; a reopened instance goes back to a step "
            "of the main flow",
        )
    elif found[to][0]["type"] == "end":
        yield Problem("/reopen/to", f"'{to}' is an end step: a reopened instance would end again")


def _used_on_a_task(doc: Mapping[str, Any], key: str | None) -> bool:
    return any(
        step.get("form") == key and step["type"] in WITH_OUTCOME
        for _sid, step, _pointer, _parallel, _branch in iter_steps(doc["steps"])
    )


def rules_reading_outcome(form: Mapping[str, Any]) -> tuple[str, ...]:
    """Return the JSON Pointers of a (schema-valid) form's rules that read `outcome`."""
    if "pages" in form:
        lists = [(f"/pages/{i}/fields", page["fields"]) for i, page in enumerate(form["pages"])]
    else:
        lists = [("/fields", form.get("fields", ()))]
    return tuple(_in_fields(lists))


def _in_fields(lists: list[tuple[str, Any]]) -> Iterator[str]:
    for pointer, fields in lists:
        for index, field in enumerate(fields):
            here = f"{pointer}/{index}"
            for rule in RULES:
                if rule in field and _reads_outcome(field[rule]):
                    yield f"{here}/{rule}"
            if field.get("type") == "calculated" and _reads_outcome(field.get("expr", "")):
                yield f"{here}/expr"
            if "columns" in field:
                yield from _in_fields([(f"{here}/columns", field["columns"])])


def _reads_outcome(condition: Any) -> bool:
    """Tell whether a rule's expressions read `outcome` (a structured comparison reads the
    answers only: `outcome` is no field of a form)."""
    if not isinstance(condition, str | Mapping):
        return False
    for _pointer, source in expressions(condition, ""):
        tree = parse_expression(source)
        if tree is not None and any(name.name == "outcome" for name in tree.find_all(nodes.Name)):
            return True
    return False
