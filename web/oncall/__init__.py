"""On-call doors: the API's "who is on call", the secret iCalendar feeds, the admin pages.

Each is a thin translation to `engine.service.oncall` (and its feeds and escalation
policies), where every rule lives.
"""

from __future__ import annotations

from flask import Flask

from web.common.security import csrf
from web.oncall import admin, api, desk, feeds, policies


def init_app(app: Flask) -> None:
    csrf.exempt(api.blueprint)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(feeds.blueprint)
    app.register_blueprint(desk.blueprint)
    app.register_blueprint(policies.blueprint)
    app.register_blueprint(admin.blueprint)
