"""The service layer as the web app reaches it: one `Services` per app, built by `create_app`."""

from __future__ import annotations

from typing import cast

from flask import current_app, has_request_context, request

from engine.service.bootstrap import Services

#: Where a request keeps the catalogue's services its forms offer.
CATALOGUE_CHOICES = "flowdesk.catalogue_choices"


def services() -> Services:
    """Return the app's service layer (commands, queries, published definitions, files)."""
    found: Services = current_app.extensions["flowdesk"]
    return found


def catalogue_choices(found: Services | None = None) -> list[tuple[str, str]]:
    """The catalogue's services, (key, name) by name, as a request's forms offer them: read
    once a request for all of them (kept with the request, not the application context,
    which may outlive many requests, as a test's does). `found`: the service layer to read,
    for a template rendered outside any request or application context."""
    found = found or services()
    if not has_request_context():
        return found.catalogue.choices()
    kept = request.environ.get(CATALOGUE_CHOICES)
    if kept is None:
        kept = request.environ[CATALOGUE_CHOICES] = found.catalogue.choices()
    return cast(list[tuple[str, str]], kept)
