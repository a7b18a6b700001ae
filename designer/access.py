"""Who may use the designers: designers and admins, checked on the server for every request.

The designer does not import the web app (import-linter says so), so it reads the
signed-in person from Flask-Login itself, as `web.auth` puts it there.
"""

from __future__ import annotations

from flask import abort, jsonify, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from engine.service.person import Person

#: The roles that may design and publish forms (admins have every role).
DESIGNER_ROLES = ("designer",)


def signed_in() -> Person | None:
    """Return who is signed in, or None."""
    person = getattr(current_user, "person", None)
    return person if isinstance(person, Person) else None


def who() -> str:
    """Return the username of the signed-in designer; only after a guard let the request in."""
    person = signed_in()
    if person is None:
        abort(401)
    return person.username


def guard_page() -> ResponseReturnValue | None:
    """Send visitors to sign in, and refuse (403) people who are not designers."""
    person = signed_in()
    if person is None:
        return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))
    if not person.has_role(*DESIGNER_ROLES):
        abort(403)
    return None


def guard_api() -> ResponseReturnValue | None:
    """Answer 401 to visitors and 403 to people who are not designers, as JSON."""
    person = signed_in()
    if person is None:
        response = jsonify(code="unauthorized", message="Sign in as a designer first.")
        response.status_code = 401
        return response
    if not person.has_role(*DESIGNER_ROLES):
        response = jsonify(code="forbidden", message="Only designers and admins may do this.")
        response.status_code = 403
        return response
    return None
