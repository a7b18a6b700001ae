"""The workflow designer's pages: a new workflow, and the designer of one workflow.

The page is drawn by ES modules (`static/designer/workflow/editor.js`) that talk to the
workflow API (`designer.workflows_api`); this module serves the page and starts new
workflows from the studio's index, through the same service the API calls.

To open fast (issue 16: a 100-step workflow in under 300 ms), the page names every module
it imports up front (`<link rel="modulepreload">`, fetched at once rather than import by
import), and holds what the API would first be asked: the draft, its check, the pickers'
context and where running instances wait, so it draws once, checked. The properties panel
and the simulation are imported once the flow is drawn (the page opens with no step
selected): their modules are named last, and run only then.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from designer import access
from designer.pages import studio_index
from designer.workflows_api import RESERVED, WORKFLOW_KEY, workflow_drafts
from engine.service.errors import Conflict, ServiceError


@dataclass(frozen=True, slots=True)
class StepType:
    """A palette entry: a step type of the workflow language, its name and one line of help."""

    type: str
    name: str
    help: str


#: Every step type of the workflow language, in the order a newcomer meets them.
STEP_PALETTE = (
    StepType("task", "Task", "Work for a person or a group, with buttons that pick the way on."),
    StepType("approval", "Approval", "One person approves or rejects; may approve by itself."),
    StepType("review", "Review", "Several people vote at once; a quorum such as 2 of 3 decides."),
    StepType("parallel", "Parallel", "Branches that run at the same time and join again."),
    StepType("decision", "Decision", "Conditions on the data choose the way on, else otherwise."),
    StepType("action", "Action", "Set data or send a notification, then go on by itself."),
    StepType("wait", "Wait", "Wait for a length of time, or until a date in the data."),
    StepType("subflow", "Subflow", "Start another workflow, and wait for it to end."),
    StepType("end", "End", "The end of the request, with its final status."),
)

#: The designer's static folder, and the page's first module (it imports the others).
STATIC = Path(__file__).parent / "static" / "designer"
EDITOR = "workflow/editor.js"
#: The modules the editor imports once the flow is drawn (`import()`, not `import ... from`).
LATER = ("workflow/properties.js", "workflow/simulate.js")
#: A static `import ... from "./x.js"` (or `"../x.js"`) of one module.
IMPORT = re.compile(r'^\s*import\s[^;]*?from\s+"(\.{1,2}/[^"]+)"', re.MULTILINE)

blueprint = Blueprint("designer_workflows", __name__, url_prefix="/designer/workflows")
blueprint.before_request(access.guard_page)


def _is_key(key: str) -> bool:
    return bool(WORKFLOW_KEY.match(key)) and key not in RESERVED


@blueprint.post("/new")
def new_workflow() -> ResponseReturnValue:
    """Start a new workflow: blank, from a template, or around a published form.

    `start` is "blank", "template:<id>" or "form:<form key>". A refused start shows the
    studio's index again with the reason, and stores nothing.
    """
    key = request.form.get("key", "").strip().lower()
    start = request.form.get("start", "blank")
    kind, _, name = start.partition(":")

    def refused(message: str, status: int) -> ResponseReturnValue:
        return studio_index(workflow_error=message, workflow_key=key, start=start), status

    if not WORKFLOW_KEY.match(key):
        return refused(
            "Give the workflow a key that starts with a letter, then lower-case letters, "
            "digits, '-' or '_' (at most 63), for example laptop-request.",
            422,
        )
    if key in RESERVED:
        return refused(f"'{key}' is taken by the designer itself; choose another key.", 422)
    if kind not in ("blank", "template", "form") or (kind != "blank" and not name):
        return refused("Choose how the workflow starts: blank, a template or a form.", 422)
    try:
        workflow_drafts().create(
            key,
            access.who(),
            template=name if kind == "template" else None,
            form=name if kind == "form" else None,
        )
    except Conflict as error:
        return refused(f"{error.message[:1].upper()}{error.message[1:]}.", 409)
    except ServiceError as error:
        return refused(f"{error.message[:1].upper()}{error.message[1:]}.", 422)
    return redirect(url_for("designer_workflows.workflow", key=key), 303)


@blueprint.get("/<key>")
def workflow(key: str) -> str:
    """The designer of one workflow: palette, canvas, properties, problems, simulation."""
    if not _is_key(key):
        abort(404)
    config = {
        "key": key,
        "api": f"{request.script_root}/designer/api/workflows",
        "formDesigner": url_for("designer.form", key="__key__"),
        "palette": [asdict(entry) for entry in STEP_PALETTE],
        "opening": _opening(key),
    }
    return render_template(
        "designer/workflow.html",
        key=key,
        palette=STEP_PALETTE,
        config=config,
        modules=[
            url_for("designer.static", filename=name)
            for name in (*module_graph(EDITOR), *later_modules())
        ],
    )


@cache
def later_modules() -> tuple[str, ...]:
    """Return the modules imported once the flow is drawn that the first drawing does not."""
    first = set(module_graph(EDITOR))
    found = [name for module in LATER for name in module_graph(module) if name not in first]
    return tuple(dict.fromkeys(found))


def _opening(key: str) -> dict[str, Any]:
    """What the page draws first, as the API gives it: the draft, its check, the pickers'
    context (the workflows among it) and the open instances by step."""
    drafts = workflow_drafts()
    draft = drafts.draft(key)
    return {
        "draft": draft.to_json(),
        "check": drafts.check(key, draft.document).to_json(),
        "context": {**drafts.context(), "workflows": drafts.workflows()},
        "running": drafts.running(key),
    }


@cache
def module_graph(first: str) -> tuple[str, ...]:
    """Return the ES modules `first` imports, directly or not, itself first (paths under
    the static folder): read once, as the files do not change while the app runs."""
    found = [first]
    for name in found:
        source = (STATIC / name).read_text(encoding="utf-8")
        for target in IMPORT.findall(source):
            path = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
            if path not in found:
                found.append(path)
    return tuple(found)


def init_app(app: Flask) -> None:
    """Register the workflow designer's pages."""
    app.register_blueprint(blueprint)
