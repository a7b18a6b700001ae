"""The workflow designer's simulation: replay a draft with sample data on a fake clock.

`POST /designer/api/workflows/<key>/simulate` takes `{"document"?, "data"?, "start_at"?,
"requester"?, "actions": [...]}` and answers the replay (`engine.service.simulation`):
a draft with problems comes back with them (200, `ok` false: it is the usual answer while
a flow is built); an action that cannot be carried out stops the replay, said in `error`
with its index. Without `document`, the saved draft is simulated. Designers and admins
only; the POST carries the page's CSRF token, as every designer write does. Nothing is
written.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify

from designer import access, jsonapi
from designer.jsonapi import services
from designer.workflows_api import WORKFLOW_KEY
from engine.service.errors import NotFound
from engine.service.simulation import Simulations

blueprint = Blueprint("designer_simulation", __name__, url_prefix="/designer/api/workflows")
blueprint.before_request(access.guard_api)
jsonapi.answers_json(blueprint)


@blueprint.post("/<key>/simulate")
def simulate(key: str) -> Response:
    """Replay a draft (the one sent, else the saved one) with the actions sent."""
    if not WORKFLOW_KEY.match(key):
        raise NotFound(f"'{key}' is not a workflow key: use a-z, 0-9, '-' and '_'")
    body = jsonapi.body()
    if "document" in body:
        document = body["document"]
    else:
        document = services().workflow_drafts.draft(key).document
    return jsonify(Simulations(services().commands).run(key, document, body))


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
