"""The workflow designer's JSON API: drafts, checks as you go, templates, publishing, versions.

Built like the form designer's (`designer.api`, whose error handling, body reading and
revision rules it shares): every call is for designers and admins (`access.guard_api`),
writes carry the page's CSRF token in `X-CSRFToken`, errors come back as
`{"code", "message", "problems"?}`. Simulation is `designer.simulation_api`'s.

Workflow keys follow the workflow language (`^[a-z][a-z0-9_-]{0,62}$`); `context` and
`templates` are taken by the designer's own calls, so no workflow made here has them.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Flask, Response, jsonify

from designer import access, jsonapi
from designer.jsonapi import services
from designer.workflow_diff import diff_workflows
from engine.service.errors import InvalidInput, NotFound
from engine.service.workflow_drafts import WorkflowDrafts

blueprint = Blueprint("designer_workflows_api", __name__, url_prefix="/designer/api/workflows")
blueprint.before_request(access.guard_api)
jsonapi.answers_json(blueprint)

#: A workflow's key, as the workflow language allows it.
WORKFLOW_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
#: Names the designer's own calls take under `/workflows/`.
RESERVED = frozenset({"context", "templates"})


def workflow_drafts() -> WorkflowDrafts:
    """The workflow designer's use cases."""
    return services().workflow_drafts


def _key(key: str) -> str:
    if not WORKFLOW_KEY.match(key):
        raise NotFound(
            f"'{key}' is not a workflow key: start with a-z, then use a-z, 0-9, '-' and '_'"
        )
    if key in RESERVED:
        raise NotFound(f"'{key}' is taken by the designer itself; give the workflow another key")
    return key


def _draft(draft: Any, status: int = 200) -> Response:
    response = jsonify(draft.to_json())
    response.headers["ETag"] = f'"{draft.revision}"'
    response.status_code = status
    return response


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"'{name}' names a {name} by its key, as text")
    return value


@blueprint.get("")
def list_workflows() -> Response:
    """List every workflow: published ones and those only drafted."""
    return jsonify(workflows=workflow_drafts().workflows())


@blueprint.get("/context")
def context() -> Response:
    """What the pickers offer: forms and their fields, groups, users, calendars, templates."""
    return jsonify(workflow_drafts().context())


@blueprint.get("/templates")
def templates() -> Response:
    """The templates a new workflow may start from."""
    return jsonify(templates=[t.to_json() for t in workflow_drafts().templates])


@blueprint.get("/<key>/draft")
def get_draft(key: str) -> Response:
    """Return the draft (or the latest version, or a blank workflow) with its revision."""
    return _draft(workflow_drafts().draft(_key(key)))


@blueprint.put("/<key>/draft")
def put_draft(key: str) -> Response:
    """Save a draft as sent, if it starts from the stored revision (409 when stale)."""
    body = jsonapi.body()
    revision = jsonapi.revision(body)
    if revision is None:
        return jsonapi.error(
            428, "revision", "say which revision this draft starts from (If-Match)"
        )
    if "document" not in body:
        raise InvalidInput("send the draft as {'document': ...}")
    return _draft(workflow_drafts().save(_key(key), body["document"], revision, access.who()))


@blueprint.post("/<key>/new")
def new(key: str) -> Response:
    """Start a workflow: blank, from a template (`template`) or around a form (`form`)."""
    body = jsonapi.body()
    draft = workflow_drafts().create(
        _key(key), access.who(), template=_text(body, "template"), form=_text(body, "form")
    )
    return _draft(draft, 201)


@blueprint.post("/<key>/check")
def check(key: str) -> Response:
    """Check a draft (the one sent, else the saved one): problems, warnings, the fields at each
    step (those the page lacks, given the digests it holds: `fields_seen`)."""
    key, body = _key(key), jsonapi.body()
    drafts = workflow_drafts()
    document = body["document"] if "document" in body else drafts.draft(key).document
    return jsonify(drafts.check(key, document).to_json(body.get("fields_seen")))


@blueprint.post("/<key>/publish")
def publish(key: str) -> Response:
    """Publish the saved draft: 201 a new version, 200 identical to one, 422 problems, 409 stale."""
    body = jsonapi.body()
    published = workflow_drafts().publish(_key(key), access.who(), revision=jsonapi.revision(body))
    response = jsonify(
        version=published.version,
        created=published.created,
        latest_version=published.latest,
        message=published.in_words(),
    )
    response.status_code = 201 if published.created else 200
    return response


@blueprint.get("/<key>/versions")
def versions(key: str) -> Response:
    """List the published versions, and where the open instances of the latest one wait."""
    drafts = workflow_drafts()
    return jsonify(versions=drafts.versions(_key(key)), running=drafts.running(key))


@blueprint.get("/<key>/diff")
def diff(key: str) -> Response:
    """Say in words what changed between two versions (`to=draft`, the default: the draft)."""
    old, new = workflow_drafts().documents(_key(key), *jsonapi.diff_sides())
    old, new = jsonapi.comparable(old, new, "workflows")
    return jsonify(changes=[c.to_json() for c in diff_workflows(old, new)])


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
