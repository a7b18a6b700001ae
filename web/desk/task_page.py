"""The task page: what a person sees of a task, and the forms they may act with.

Who may open a task page: its assignee, whoever delegated it, a member of its candidate
group, whoever completed it, the requester of a task the workflow gave the requester, and
admins. Anyone else gets 403 when they may see the instance (agents see every instance)
and 404 when they may not, so a task id tells a stranger nothing. The service decides
all of it (`Desk.task`); this module only turns its answer into a page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import abort, render_template

from engine.service.desk import TaskView
from engine.service.errors import NotAllowed, NotFound
from forms.validation import FieldError
from web.auth import me
from web.common.services import services
from web.desk.instances import now
from web.portal import task_prefix

__all__ = ["TaskView", "load_task", "task_page"]


def load_task(task_id: int) -> TaskView:
    """Gather a task's page; 404 for an unknown task or a stranger, 403 for a bystander."""
    try:
        return services().desk.task(me(), task_id)
    except NotAllowed:
        abort(403)
    except NotFound:
        abort(404)


def task_page(
    task_id: int,
    *,
    values: Mapping[str, Any] | None = None,
    errors: tuple[FieldError, ...] | list[FieldError] = (),
    note: str = "",
    note_errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    """Render a task page, with what was sent and what was wrong when a post failed."""
    page = load_task(task_id)
    if values is None:
        own = {f["key"] for f in page.form.fields} if page.form else set()
        values = {} if page.decision else {k: v for k, v in page.data.items() if k in own}
    html = render_template(
        "inbox/task.html",
        page=page,
        values=values,
        errors={e.field: e.message for e in errors},
        note=note,
        notes=note_errors or {},
        groups=services().desk.groups(),
        prefix=task_prefix(task_id),
        at=now(),
    )
    return html, status
