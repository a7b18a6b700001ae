"""The admin pages: users, groups and memberships, the published workflows and their import.

Every page here is for admins only (`require("admin")`): others get 403, anonymous
visitors go to sign-in. A form with mistakes comes back with each message at its
field (422) and nothing changed; a form that worked redirects (303) with a message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, cast

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy.orm import Session

from engine.core.errors import Problem
from engine.service import admin as service
from engine.service import definitions
from engine.service.accounts import MIN_PASSWORD_LENGTH, ROLES
from engine.service.errors import InvalidInput
from engine.store.database import Database
from web.auth import me, renew_sign_in, require

blueprint = Blueprint("admin", __name__, url_prefix="/admin")

Page = str | tuple[str, int] | Response

#: What each role lets a person do, as the user form says it.
ROLE_WORDS = {
    "admin": "Admin: everything, these pages included",
    "designer": "Designer: builds and publishes workflows and forms",
    "agent": "Agent: works on tasks from the inbox",
    "requester": "Requester: asks for things and follows their own requests",
}


class Refused(Exception):
    """The input had mistakes: `errors` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str], problems: list[Problem] | None = None) -> None:
        super().__init__(errors)
        self.errors = errors
        self.problems = problems or []


def _database() -> Database:
    database: Database = current_app.extensions["flowdesk.database"]
    return database


def now() -> datetime:
    """The time of an admin change, from the app's one clock."""
    clock = cast(Callable[[], datetime], current_app.extensions["flowdesk.commands"].clock)
    return clock()


@contextmanager
def changing() -> Iterator[Session]:
    """One transaction: committed if the body finishes, rolled back on refused input."""
    with _database().writer_session() as session:
        try:
            with session.begin():
                yield session
        except InvalidInput as error:
            raise Refused(field_errors(error), error.problems) from error


def field_errors(error: InvalidInput) -> dict[str, str]:
    """Map a service's problems to form fields (`/email` -> `email`); "" for the whole form."""
    errors: dict[str, str] = {}
    for problem in error.problems:
        errors.setdefault(problem.pointer.lstrip("/").split("/")[0], _sentence(problem.message))
    return errors or {"": _sentence(error.message)}


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def done(message: str, endpoint: str, **values: Any) -> Response:
    flash(message, "success")
    return cast(Response, redirect(url_for(endpoint, **values), 303))


def _form_list(name: str) -> list[str]:
    return [value for value in request.form.getlist(name) if value]


def _text(name: str) -> str:
    return request.form.get(name, "").strip()


# The index ------------------------------------------------------------------------------------


@blueprint.get("")
@require("admin")
def index() -> str:
    """Link to each part of the admin."""
    return render_template("admin/index.html")


# Users ----------------------------------------------------------------------------------------


@blueprint.get("/users")
@require("admin")
def users() -> str:
    with _database().reading() as session:
        rows = service.list_users(session)
    return render_template("admin/users.html", users=rows)


def _user_form(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    with _database().reading() as session:
        groups = service.list_groups(session)
        usernames = [row.username for row in service.list_users(session)]
    page = render_template(
        template,
        role_options=[(role, ROLE_WORDS[role]) for role in ROLES],
        group_options=[
            (g.key, g.key if g.name == g.key else f"{g.name} ({g.key})") for g in groups
        ],
        usernames=usernames,
        min_password=MIN_PASSWORD_LENGTH,
        **context,
    )
    return page, status


@blueprint.get("/users/new")
@require("admin")
def new_user() -> tuple[str, int]:
    return _user_form("admin/user_new.html", values={"roles": ["agent"], "groups": []}, errors={})


@blueprint.post("/users")
@require("admin")
def create_user() -> Page:
    values: dict[str, Any] = {
        "username": _text("username"),
        "name": _text("name"),
        "email": _text("email"),
        "roles": _form_list("roles"),
        "groups": _form_list("groups"),
    }
    try:
        with changing() as session:
            service.create_user(
                session,
                values["username"],
                now(),
                name=values["name"],
                email=values["email"] or None,
                roles=values["roles"],
                groups=values["groups"],
                password=request.form.get("password") or None,
            )
    except Refused as refused:
        return _user_form("admin/user_new.html", 422, values=values, errors=refused.errors)
    return done(
        f"The user {values['username']} was created.", "admin.user", username=values["username"]
    )


def _user_page(username: str, status: int = 200, **context: Any) -> tuple[str, int]:
    with _database().reading() as session:
        row = service.get_user(session, username)
    context.setdefault("values", _user_values(row))
    context.setdefault("errors", {})
    context.setdefault("password_errors", {})
    return _user_form("admin/user.html", status, user=row, **context)


def _user_values(row: service.UserRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "email": row.email or "",
        "roles": list(row.roles),
        "groups": list(row.groups),
        "active": row.active,
        "manager": row.manager or "",
    }


@blueprint.get("/users/<username>")
@require("admin")
def user(username: str) -> tuple[str, int]:
    return _user_page(username)


@blueprint.post("/users/<username>")
@require("admin")
def update_user(username: str) -> Page:
    values: dict[str, Any] = {
        "name": _text("name"),
        "email": _text("email"),
        "roles": _form_list("roles"),
        "groups": _form_list("groups"),
        "active": request.form.get("active") == "yes",
        "manager": _text("manager"),
    }
    try:
        with changing() as session:
            service.update_user(
                session,
                username,
                now(),
                actor=me().username,
                name=values["name"],
                email=values["email"] or None,
                roles=values["roles"],
                active=values["active"],
                groups=values["groups"],
                manager=values["manager"] or None,
            )
    except Refused as refused:
        return _user_page(username, 422, values=values, errors=refused.errors)
    return done(f"The user {username} was saved.", "admin.user", username=username)


@blueprint.post("/users/<username>/password")
@require("admin")
def set_password(username: str) -> Page:
    try:
        with changing() as session:
            service.set_user_password(session, username, request.form.get("password", ""))
    except Refused as refused:
        return _user_page(username, 422, password_errors=refused.errors)
    if username == me().username:
        renew_sign_in()  # an admin's own new password keeps this session signed in
    return done(
        f"{username} has a new password and was signed out everywhere.",
        "admin.user",
        username=username,
    )


# Groups ---------------------------------------------------------------------------------------


def _groups_page(status: int = 200, **context: Any) -> tuple[str, int]:
    with _database().reading() as session:
        rows = service.list_groups(session)
    context.setdefault("values", {})
    context.setdefault("errors", {})
    return render_template("admin/groups.html", groups=rows, **context), status


@blueprint.get("/groups")
@require("admin")
def groups() -> tuple[str, int]:
    return _groups_page()


@blueprint.post("/groups")
@require("admin")
def create_group() -> Page:
    values = {"key": _text("key"), "name": _text("name"), "next_tier": _text("next_tier")}
    try:
        with changing() as session:
            service.create_group(
                session, values["key"], values["name"], values["next_tier"] or None
            )
    except Refused as refused:
        return _groups_page(422, values=values, errors=refused.errors)
    return done(f"The group {values['key']} was created.", "admin.group", key=values["key"])


def _group_page(key: str, status: int = 200, **context: Any) -> tuple[str, int]:
    with _database().reading() as session:
        row = service.get_group(session, key)
        others = [g.key for g in service.list_groups(session) if g.key != key]
        usernames = [u.username for u in service.list_users(session)]
    context.setdefault("values", {"name": row.name, "next_tier": row.next_tier or ""})
    context.setdefault("errors", {})
    context.setdefault("member_errors", {})
    context.setdefault("member", "")
    page = render_template(
        "admin/group.html", group=row, others=others, usernames=usernames, **context
    )
    return page, status


@blueprint.get("/groups/<key>")
@require("admin")
def group(key: str) -> tuple[str, int]:
    return _group_page(key)


@blueprint.post("/groups/<key>")
@require("admin")
def update_group(key: str) -> Page:
    values = {"name": _text("name"), "next_tier": _text("next_tier")}
    try:
        with changing() as session:
            service.update_group(session, key, values["name"], values["next_tier"] or None)
    except Refused as refused:
        return _group_page(key, 422, values=values, errors=refused.errors)
    return done(f"The group {key} was saved.", "admin.group", key=key)


@blueprint.post("/groups/<key>/members")
@require("admin")
def add_member(key: str) -> Page:
    username = _text("username")
    try:
        if not username:
            raise Refused({"username": "Enter the username of the person to add."})
        with changing() as session:
            added = service.add_member(session, key, username)
    except Refused as refused:
        return _group_page(key, 422, member_errors=refused.errors, member=username)
    message = f"{username} joined {key}." if added else f"{username} was already in {key}."
    return done(message, "admin.group", key=key)


@blueprint.post("/groups/<key>/members/<username>/remove")
@require("admin")
def remove_member(key: str, username: str) -> Page:
    with changing() as session:
        removed = service.remove_member(session, key, username)
    message = f"{username} left {key}." if removed else f"{username} was not in {key}."
    return done(message, "admin.group", key=key)


# Workflows ------------------------------------------------------------------------------------


def _workflows_page(status: int = 200, **context: Any) -> tuple[str, int]:
    with _database().reading() as session:
        rows = definitions.published_definitions(session)
    context.setdefault("problems", [])
    context.setdefault("errors", {})
    page = render_template(
        "admin/workflows.html",
        workflows=[row for row in rows if row.kind == "workflow"],
        others=[row for row in rows if row.kind != "workflow"],
        max_kb=definitions.MAX_IMPORT_BYTES // 1024,
        **context,
    )
    return page, status


@blueprint.get("/workflows")
@require("admin")
def workflows() -> tuple[str, int]:
    return _workflows_page()


@blueprint.post("/workflows/import")
@require("admin")
def import_workflow() -> Page:
    """Check an uploaded document as `flowdesk load` would; publish it only if it is sound."""
    upload = request.files.get("document")
    if upload is None or not upload.filename:
        return _workflows_page(422, errors={"document": "Choose a JSON file to import."})
    if not upload.filename.lower().endswith(".json"):
        return _workflows_page(422, errors={"document": "The file must be a .json document."})
    data = upload.stream.read(definitions.MAX_IMPORT_BYTES + 1)
    try:
        with changing() as session:
            result = definitions.import_document(
                session, upload.filename, data, now(), me().username
            )
    except Refused as refused:
        return _workflows_page(
            422,
            problems=refused.problems,
            errors={"document": f"{upload.filename} has problems, so nothing was published."},
        )
    if result.created:
        message = f"Published {result.kind} {result.key} version {result.version}."
    else:
        message = (
            f"The {result.kind} {result.key} is unchanged: version {result.version} "
            "has the same content, so nothing was published."
        )
    if result.kind == "workflow":
        return done(message, "admin.workflow", key=result.key)
    return done(message, "admin.workflows")


@blueprint.get("/workflows/<key>")
@require("admin")
def workflow(key: str) -> str:
    with _database().reading() as session:
        row = definitions.published_workflow(session, key)
    return render_template("admin/workflow.html", workflow=row)


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
