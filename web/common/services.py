"""The service layer as the web app reaches it: one `Services` per app, built by `create_app`."""

from __future__ import annotations

from flask import current_app

from engine.service.bootstrap import Services


def services() -> Services:
    """Return the app's service layer (commands, queries, published definitions, files)."""
    found: Services = current_app.extensions["flowdesk"]
    return found
