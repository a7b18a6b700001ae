"""The desk's problems: `/problems` (recurring incidents and open problems), and the forms
that open a problem, link an incident to one and take it off again.

A door to `engine.service.problems` and `engine.service.recurring`, for the service desk
(agents, admins, group members). The instance page shows an incident's problem, or a
problem's incidents, through `problem_panel` (`instances/_problem.html`); its forms post
here, and a refusal is shown on the page the form came from (`back`), in its own words.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from engine.service.errors import InvalidInput, ServiceError
from engine.service.problems import ProblemOf, ProblemView
from engine.service.recurring import Proposal
from web.auth import me, require
from web.common.errors import STATUS
from web.common.services import services
from web.desk.instances import _page as instance_page

blueprint = Blueprint("problems", __name__)

#: Where a form's `back` may lead: the problems page, or an instance's page.
PROBLEMS_PAGE = "problems"


@dataclass(frozen=True, slots=True)
class ProblemPanel:
    """What the instance page shows: a problem's incidents, or an incident's problem."""

    problem: ProblemView | None
    of: ProblemOf | None


def problem_panel(number: str) -> ProblemPanel:
    """Read what the instance page's problem section shows (the desk's pages only)."""
    found = services().problems
    if found.is_problem(number):
        return ProblemPanel(found.problem(number), None)
    return ProblemPanel(None, found.problem_of(number))


def _window() -> tuple[int, int]:
    """The recurring window and threshold: the query's, else the app's settings."""
    config = current_app.config
    days = request.args.get("days", type=int)
    at_least = request.args.get("at_least", type=int)
    return (
        int(config["RECURRING_DAYS"]) if days is None else days,
        int(config["RECURRING_AT_LEAST"]) if at_least is None else at_least,
    )


def _problems_page(errors: dict[str, str] | None = None, status: int = 200) -> Any:
    days, at_least = _window()
    refused: InvalidInput | None = None
    proposals: list[Proposal] = []
    try:
        proposals = services().recurring.proposals(me().username, days=days, at_least=at_least)
    except InvalidInput as error:
        refused, status = error, 400
    page = render_template(
        "problems/index.html",
        proposals=proposals,
        problems=services().problems.open_problems(),
        days=days,
        at_least=at_least,
        refused=refused,
        notes=errors or {},
    )
    return page, status


@blueprint.get("/problems")
@require("agent")
def index() -> Any:
    """List the groups of recurring incidents proposed for a problem, and the open problems."""
    return _problems_page()


def _back() -> str:
    """Where the form came from: the problems page, or the instance page it names."""
    back = request.form.get("back", PROBLEMS_PAGE).strip().upper()
    return PROBLEMS_PAGE if back == PROBLEMS_PAGE.upper() else back


def _refused(back: str, kind: str, error: ServiceError) -> Any:
    status = STATUS.get(error.code, 400)
    if back == PROBLEMS_PAGE:
        return _problems_page({kind: error.message}, status)
    return instance_page(back, {kind: error.message}, status)


def _redirect(back: str, anchor: str = "problem") -> Any:
    if back == PROBLEMS_PAGE:
        return redirect(url_for("problems.index"), code=303)
    return redirect(url_for("instances.instance", number=back, _anchor=anchor), code=303)


def _key(kind: str) -> str | None:
    """The idempotency key of a post: its page's random `submission` id, per action."""
    try:
        return f"web:{kind}:{uuid.UUID(request.form.get('submission', ''))}"
    except ValueError:
        return None


def _visible(back: str) -> None:
    if back != PROBLEMS_PAGE and not services().desk.may_see(me(), back):
        abort(404)


@blueprint.post("/problems")
@require("agent")
def open_problem() -> Any:
    """Open a problem from one or more incidents (`incident`, repeated), linked at once."""
    back = _back()
    _visible(back)
    try:
        answer = services().problems.open(
            request.form.getlist("incident"),
            actor=me().username,
            title=request.form.get("title", ""),
            description=request.form.get("description", ""),
            key=_key("open_problem"),
        )
    except ServiceError as error:
        return _refused(back, "problem_open", error)
    number, linked = answer["number"], ", ".join(answer["incidents"])
    flash(f"The problem {number} was opened, and {linked} linked to it.")
    return redirect(url_for("instances.instance", number=number), code=303)


@blueprint.post("/problems/link")
@require("agent")
def link() -> Any:
    """Link an incident to an open problem."""
    back = _back()
    _visible(back)
    problem = request.form.get("problem", "").strip().upper()
    incident = request.form.get("incident", "").strip().upper()
    try:
        services().problems.link(problem, incident, actor=me().username, key=_key("link_problem"))
    except ServiceError as error:
        return _refused(back, "problem_link", error)
    flash(f"{incident} is now linked to the problem {problem}.")
    return _redirect(back)


@blueprint.post("/problems/unlink")
@require("agent")
def unlink() -> Any:
    """Take an incident off its problem."""
    back = _back()
    _visible(back)
    problem = request.form.get("problem", "").strip().upper()
    incident = request.form.get("incident", "").strip().upper()
    try:
        services().problems.unlink(
            problem, incident, actor=me().username, key=_key("unlink_problem")
        )
    except ServiceError as error:
        return _refused(back, "problem_unlink", error)
    flash(f"{incident} is no longer linked to the problem {problem}.")
    return _redirect(back)


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
    app.jinja_env.globals.update(problem_panel=problem_panel)
