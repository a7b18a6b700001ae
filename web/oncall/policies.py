"""The admins' escalation policies page: every policy, and one saved with a form.

For admins only (`require("admin")`); the service checks again and checks every target
exists. The form builds the very document the service takes (levels, repeat and the
acknowledgement timeout; see docs/on-call.md): each level is a fieldset of targets (a kind and
which one) and the minutes to wait before the next level. "Add a level", "Remove this level",
"Move up", "Add a target" and "Remove this target" post the form back and draw it again with
what was typed. A policy with mistakes comes back (422) with each problem next to its
control, and nothing changed.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from werkzeug.datastructures import MultiDict

from engine.core.durations import parse_duration
from engine.core.errors import DurationError
from engine.core.escalation_policies import MAX_LEVELS, MAX_TARGETS
from engine.service.errors import InvalidInput, NotFound
from engine.service.escalation_policies import PolicyView
from web.admin import done
from web.auth import me, require
from web.common.services import services

blueprint = Blueprint("admin_policies", __name__, url_prefix="/admin/escalation-policies")

KINDS = (("schedule", "Schedule (whoever is on call)"), ("group", "Group"), ("user", "User"))
MINUTES = "give the minutes as a whole number, like 15"


def _blank_level() -> dict[str, Any]:
    return {"targets": [{"kind": "schedule", "which": ""}], "after": "15"}


def _minutes(iso: Any) -> str:
    try:
        delta = parse_duration(str(iso))
    except DurationError:
        return str(iso)
    return str(int(delta.total_seconds() // 60))


def policy_fields(view: PolicyView) -> dict[str, Any]:
    """Return a stored policy as the form's fields."""
    doc = view.document
    return {
        "key": view.key,
        "name": view.name,
        "repeat": str(doc.get("repeat", 0)),
        "acknowledge": _minutes(doc["acknowledge_within"]) if "acknowledge_within" in doc else "",
        "levels": [
            {
                "targets": [
                    {"kind": kind, "which": which}
                    for target in level["notify"]
                    for kind, which in target.items()
                ],
                "after": _minutes(level["after"]) if "after" in level else "",
            }
            for level in doc["levels"]
        ],
    }


def policy_from_form(form: MultiDict[str, str]) -> dict[str, Any]:
    """Return the form's fields as posted: key, name, repeat, acknowledge and the levels."""
    levels = []
    for index in range(MAX_LEVELS + 1):
        at = f"levels-{index}-"
        if at + "after" not in form:
            break
        targets = []
        for number in range(MAX_TARGETS + 1):
            kind = form.get(f"{at}targets-{number}-kind")
            if kind is None:
                break
            which = form.get(f"{at}targets-{number}-which", "").strip()
            targets.append({"kind": kind, "which": which})
        levels.append({"targets": targets, "after": form.get(at + "after", "").strip()})
    fields = {name: form.get(name, "").strip() for name in ("key", "name", "repeat", "acknowledge")}
    return {**fields, "levels": levels}


def _duration(minutes: str) -> str:
    """PT<n>M for a whole number of minutes; what was typed otherwise (the service says so)."""
    return f"PT{minutes}M" if minutes.isdigit() else minutes


def policy_document(fields: dict[str, Any]) -> dict[str, Any]:
    """Return the policy document the service takes, built from the form's fields."""
    levels = []
    for level in fields["levels"]:
        doc: dict[str, Any] = {
            "notify": [{t["kind"]: t["which"]} for t in level["targets"] if t["which"]]
        }
        if level["after"]:
            doc["after"] = _duration(level["after"])
        levels.append(doc)
    repeat = fields["repeat"] or "0"
    document: dict[str, Any] = {
        "levels": levels,
        "repeat": int(repeat) if repeat.isdigit() else repeat,
    }
    if fields["acknowledge"]:
        document["acknowledge_within"] = _duration(fields["acknowledge"])
    return document


def policy_errors(
    error: InvalidInput, fields: dict[str, Any]
) -> tuple[dict[str, str], dict[str, str]]:
    """Map the service's problems to the form's controls: (beside each control, the summary
    at the top saying which level)."""
    beside: dict[str, str] = {}
    summary: dict[str, str] = {}
    for problem in error.problems:
        parts = problem.pointer.strip("/").split("/")
        message = _sentence(problem.message)
        if parts[0] == "levels" and len(parts) > 1 and parts[1].isdigit():
            index = int(parts[1])
            if len(parts) > 2 and parts[2] == "after":
                key = f"levels-{index}-after"
                if not fields["levels"][index]["after"].isdigit():
                    message = _sentence(MINUTES)
            elif len(parts) > 3 and parts[3].isdigit():
                key = f"levels-{index}-targets-{_target_row(fields, index, int(parts[3]))}-which"
            else:
                key = f"levels-{index}-targets-0-which"
            said = f"Level {index + 1}: {message}"
        elif parts[0] in ("key", "name", "repeat", "acknowledge_within"):
            key = "acknowledge" if parts[0] == "acknowledge_within" else parts[0]
            if key == "acknowledge" and not fields["acknowledge"].isdigit():
                message = _sentence(MINUTES)
            said = message
        else:
            key, said = "levels", message
        beside[key] = f"{beside[key]} {message}" if key in beside else message
        summary[key] = f"{summary[key]} {said}" if key in summary else said
    if not beside:
        beside = summary = {"": _sentence(error.message)}
    return beside, summary


def _target_row(fields: dict[str, Any], level: int, number: int) -> int:
    """The form's row of a level's `number`th target (rows left empty are not sent)."""
    filled = [i for i, t in enumerate(fields["levels"][level]["targets"]) if t["which"]]
    return filled[number] if number < len(filled) else 0


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


@blueprint.get("")
@require("admin")
def policies() -> tuple[str, int]:
    """Every policy; the form is blank, or holds the policy `?edit=KEY` to change it."""
    values: dict[str, Any] = {
        "key": "",
        "name": "",
        "repeat": "0",
        "acknowledge": "",
        "levels": [_blank_level()],
    }
    editing = request.args.get("edit", "")
    if editing:
        try:
            values = policy_fields(services().escalation_policies.get(editing))
        except NotFound:
            abort(404)
    return _page(values, {})


def _page(
    values: dict[str, Any],
    errors: dict[str, str],
    summary: dict[str, str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    found = services().escalation_policies.all()
    summary = summary if summary is not None else errors
    page = render_template(
        "oncall/policies.html",
        policies=[(p, json.dumps(p.to_json(), indent=2)) for p in found],
        values=values,
        errors=errors,
        summary=summary,
        summary_ids={key: key for key in summary if key},
        kinds=KINDS,
        max_levels=MAX_LEVELS,
        max_targets=MAX_TARGETS,
    )
    return page, status


@blueprint.post("")
@require("admin")
def save() -> tuple[str, int] | Response:
    """Save the policy, or add, remove or move a level or a target and draw the form again."""
    fields = policy_from_form(request.form)
    levels: list[dict[str, Any]] = fields["levels"]
    action = request.form.get("action", "save")
    if action != "save":
        verb, *numbers = action.split("-")
        at = [int(n) for n in numbers if n.isdigit()]
        here = at[0] if at and at[0] < len(levels) else None
        if verb == "add" and len(levels) < MAX_LEVELS:
            levels.append(_blank_level())
        elif verb == "remove" and here is not None:
            del levels[here]
        elif verb == "up" and here:
            levels[here - 1], levels[here] = levels[here], levels[here - 1]
        elif verb == "target" and here is not None:
            if len(levels[here]["targets"]) < MAX_TARGETS:
                levels[here]["targets"].append({"kind": "schedule", "which": ""})
        elif (
            verb == "untarget"
            and here is not None
            and len(at) == 2
            and len(levels[here]["targets"]) > 1
        ):
            targets = levels[here]["targets"]
            if 0 <= at[1] < len(targets):
                del targets[at[1]]
        return _page(fields, {})
    try:
        services().escalation_policies.save(
            fields["key"], policy_document(fields), name=fields["name"], actor=me().username
        )
    except InvalidInput as error:
        beside, summary = policy_errors(error, fields)
        return _page(fields, beside, summary, 422)
    return done(f"Escalation policy {fields['key']} saved.", "admin_policies.policies")


@blueprint.post("/<key>/delete")
@require("admin")
def delete(key: str) -> Response:
    try:
        services().escalation_policies.delete(key, actor=me().username)
    except NotFound:
        abort(404)
    return done(f"Escalation policy {key} deleted.", "admin_policies.policies")
