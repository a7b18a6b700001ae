"""The admin pages: users, groups and memberships, the published workflows and their import.

Every page here is for admins only (`require("admin")`): others get 403, anonymous
visitors go to sign-in. A form with mistakes comes back with each message at its
field (422) and nothing changed; a form that worked redirects (303) with a message.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Blueprint, Flask, Response, flash, redirect, render_template, request, url_for

from engine.service.admin import UserRow
from engine.service.errors import InvalidInput
from engine.service.people import Directory, People
from engine.service.person import ROLES
from engine.settings import MAX_IMPORT_BYTES, MIN_PASSWORD_LENGTH
from web.admin import outbox
from web.auth import current_session, me, require
from web.common.services import services

blueprint = Blueprint("admin", __name__, url_prefix="/admin")

Page = str | tuple[str, int] | Response

#: What each role lets a person do, as the user form says it.
ROLE_WORDS = {
    "admin": "Admin: everything, these pages included",
    "designer": "Designer: builds and publishes workflows and forms",
    "agent": "Agent: works on tasks from the inbox",
    "requester": "Requester: asks for things and follows their own requests",
}


def people() -> People:
    """The service's users, groups and memberships."""
    return services().people


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
    return render_template("admin/users.html", users=people().directory().users)


def _user_form(
    template: str, directory: Directory, status: int = 200, **context: Any
) -> tuple[str, int]:
    page = render_template(
        template,
        role_options=[(role, ROLE_WORDS[role]) for role in ROLES],
        group_options=[
            (g.key, g.key if g.name == g.key else f"{g.name} ({g.key})") for g in directory.groups
        ],
        usernames=[row.username for row in directory.users],
        min_password=MIN_PASSWORD_LENGTH,
        **context,
    )
    return page, status


@blueprint.get("/users/new")
@require("admin")
def new_user() -> tuple[str, int]:
    return _user_form(
        "admin/user_new.html",
        people().directory(),
        values={"roles": [], "groups": []},  # none ticked: a requester, a manager who approves
        errors={},
    )


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
        people().create_user(
            values["username"],
            name=values["name"],
            email=values["email"] or None,
            roles=values["roles"],
            groups=values["groups"],
            password=request.form.get("password") or None,
            actor=me().username,
        )
    except InvalidInput as error:
        return _user_form(
            "admin/user_new.html",
            people().directory(),
            422,
            values=values,
            errors=field_errors(error),
        )
    return done(
        f"The user {values['username']} was created.", "admin.user", username=values["username"]
    )


def _user_page(username: str, status: int = 200, **context: Any) -> tuple[str, int]:
    directory = people().directory()
    row = directory.user(username)
    context.setdefault("values", _user_values(row))
    context.setdefault("errors", {})
    context.setdefault("password_errors", {})
    # A deactivated user's tasks with no group or delegator to go back to wait here.
    held = [] if row.active else people().held_tasks(username)
    return _user_form("admin/user.html", directory, status, user=row, held=held, **context)


def _user_values(row: UserRow) -> dict[str, Any]:
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
        left = people().update_user(
            username,
            actor=me().username,
            name=values["name"],
            email=values["email"] or None,
            roles=values["roles"],
            active=values["active"],
            groups=values["groups"],
            manager=values["manager"] or None,
        )
    except InvalidInput as error:
        return _user_page(username, 422, values=values, errors=field_errors(error))
    message = f"The user {username} was saved."
    if left:
        numbers = ", ".join(f"{task.number} ({task.step})" for task in left)
        message += (
            f" {username} still holds {len(left)} open task{'s' if len(left) > 1 else ''} "
            f"with no group to go back to: {numbers}. Reassign them from the list below."
        )
    return done(message, "admin.user", username=username)


@blueprint.post("/users/<username>/password")
@require("admin")
def set_password(username: str) -> Page:
    """Give a user a new password; their sessions end (an admin's own, this one, stays)."""
    try:
        people().set_password(
            username,
            request.form.get("password", ""),
            actor=me().username,
            keep_session=current_session(),
        )
    except InvalidInput as error:
        return _user_page(username, 422, password_errors=field_errors(error))
    return done(
        f"{username} has a new password and was signed out everywhere.",
        "admin.user",
        username=username,
    )


# Groups ---------------------------------------------------------------------------------------


def _groups_page(status: int = 200, **context: Any) -> tuple[str, int]:
    context.setdefault("values", {})
    context.setdefault("errors", {})
    page = render_template("admin/groups.html", groups=people().directory().groups, **context)
    return page, status


@blueprint.get("/groups")
@require("admin")
def groups() -> tuple[str, int]:
    return _groups_page()


@blueprint.post("/groups")
@require("admin")
def create_group() -> Page:
    values = {"key": _text("key"), "name": _text("name"), "next_tier": _text("next_tier")}
    try:
        people().create_group(
            values["key"], values["name"], values["next_tier"] or None, actor=me().username
        )
    except InvalidInput as error:
        return _groups_page(422, values=values, errors=field_errors(error))
    return done(f"The group {values['key']} was created.", "admin.group", key=values["key"])


def _group_page(key: str, status: int = 200, **context: Any) -> tuple[str, int]:
    directory = people().directory()
    row = directory.group(key)
    context.setdefault("values", {"name": row.name, "next_tier": row.next_tier or ""})
    context.setdefault("errors", {})
    context.setdefault("member_errors", {})
    context.setdefault("member", "")
    page = render_template(
        "admin/group.html",
        group=row,
        others=[g.key for g in directory.groups if g.key != key],
        usernames=[u.username for u in directory.users],
        **context,
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
        people().update_group(key, values["name"], values["next_tier"] or None, actor=me().username)
    except InvalidInput as error:
        return _group_page(key, 422, values=values, errors=field_errors(error))
    return done(f"The group {key} was saved.", "admin.group", key=key)


@blueprint.post("/groups/<key>/members")
@require("admin")
def add_member(key: str) -> Page:
    username = _text("username")
    if not username:
        errors = {"username": "Enter the username of the person to add."}
        return _group_page(key, 422, member_errors=errors, member=username)
    try:
        added = people().add_member(key, username, actor=me().username)
    except InvalidInput as error:
        return _group_page(key, 422, member_errors=field_errors(error), member=username)
    message = f"{username} joined {key}." if added else f"{username} was already in {key}."
    return done(message, "admin.group", key=key)


@blueprint.post("/groups/<key>/members/<username>/remove")
@require("admin")
def remove_member(key: str, username: str) -> Page:
    removed = people().remove_member(key, username, actor=me().username)
    message = f"{username} left {key}." if removed else f"{username} was not in {key}."
    return done(message, "admin.group", key=key)


# Workflows ------------------------------------------------------------------------------------


def _workflows_page(status: int = 200, **context: Any) -> tuple[str, int]:
    rows = services().definitions.listing()
    context.setdefault("problems", [])
    context.setdefault("errors", {})
    page = render_template(
        "admin/workflows.html",
        workflows=[row for row in rows if row.kind == "workflow"],
        others=[row for row in rows if row.kind != "workflow"],
        max_kb=MAX_IMPORT_BYTES // 1024,
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
    data = upload.stream.read(MAX_IMPORT_BYTES + 1)
    try:
        result = services().definitions.import_document(upload.filename, data, me().username)
    except InvalidInput as error:
        return _workflows_page(
            422,
            problems=error.problems,
            errors={"document": f"{upload.filename} has problems, so nothing was published."},
        )
    if result.kind == "workflow":
        return done(result.in_words(), "admin.workflow", key=result.key)
    return done(result.in_words(), "admin.workflows")


@blueprint.get("/workflows/<key>")
@require("admin")
def workflow(key: str) -> str:
    return render_template("admin/workflow.html", workflow=services().definitions.workflow(key))


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
    outbox.init_app(app)  # its own blueprint, under /admin/outbox
    from web.admin import catalogue, retention  # import this module's helpers: after them

    catalogue.init_app(app)  # its own blueprint, under /admin/services
    retention.init_app(app)  # its own blueprint, under /admin/retention
