"""The requester's side of the portal: start a public request, and the tracking page's data.

What a requester may see and do is decided by the service (`engine.service.tracking`);
this module adds only what needs the web: links built on the app's address.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for

from engine.service.commands import Result
from engine.service.published import PublicStart
from engine.service.requests import NewFile, Requests
from engine.service.tracking import (
    RequesterTask,
    TrackingView,
    added_files,
    attach,
    reported_again,
    requester_task,
    status_words,
    view,
)

__all__ = [
    "RequesterTask",
    "TrackingView",
    "added_files",
    "attach",
    "external_url",
    "reported_again",
    "requester_task",
    "status_words",
    "submit",
    "view",
]


def external_url(endpoint: str, **values: Any) -> str:
    """Build a link for a mail: on `BASE_URL` when set, never on a Host header a client forged."""
    base = current_app.config.get("BASE_URL")
    if base:
        return str(base).rstrip("/") + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)


def submit(
    requests: Requests,
    start: PublicStart,
    data: dict[str, Any],
    *,
    token: str,
    files: list[NewFile],
    key: str,
    requester: str | None = None,
    again: str | None = None,
) -> tuple[Result, bool]:
    """Start the instance of a public form; send the link by email when the flow asks to."""
    confirmation = None
    address_field = start.workflow.start.get("confirm_to")
    if address_field and data.get(address_field):
        confirmation = {
            "to": {"email": data[address_field]},
            "template": "request-received",
            "link": external_url("portal.track", token=token),
        }
    return requests.submit(
        start.workflow.key,
        data,
        token=token,
        files=files,
        key=f"portal:new:{key}",
        confirmation=confirmation,
        requester=requester,
        form=(start.form.key, start.form_version),
        again=again,
    )
