"""Who may do what: every page and endpoint, for every persona, and a refusal changes nothing.

The matrix below lists, for each request, the intended answer per persona:

- anonymous: a page redirects to `/sign-in` (`LOGIN`), the API answers 401;
- signed in without the role a route needs (`require`, `api_auth`): 403;
- an object the persona may not see: 404, so an id or a number tells a stranger nothing.
  Agents and admins see every instance; anyone else sees the instances they requested
  and those with a task of theirs (`worklist.may_see_instance`);
- a task page refuses with 403 a *bystander* who may see the instance but not the task
  (a requester on the task of their own incident, an agent of another team), and with
  404 anyone who may not see the instance (`inbox.load_task`); the API's task endpoints
  show a task to whoever may see its instance (`api_tasks.task_json`), and refuse acting
  on it with the command's own 403;
- admins pass every role check and open and comment on every task, and may reassign any
  open task (`permissions.may_reassign`), but otherwise act on a task (complete, delegate,
  claim) only as its assignee or a member of its queue's group, like everyone else
  (`inbox._may_act`, `permissions.require_actor`);
- the task pages' claim, unclaim, reassign, delegate and comment and the instance page's
  comment need an agent (403 before any lookup); the API's claim and complete need only a
  token, and leave the refusal to the command (403), after a 404 for an unseen task;
- a POST that is checked rather than refused (a wrong password: 401; a form with mistakes,
  a designer's empty document: 422; delegating to oneself: 422) must change nothing too;
- tracking links are capabilities, not roles: an unknown token is 404 for everyone;
- allowed (`OK`): 200, 201, 302 or 303 that is not a redirect to sign-in. A cell of None is
  an allowed action that would spoil the rows after it; the same action is proved allowed on
  an object of its own further down.

Lists and pages must not name what a persona may not see (`hides`): a requester's lists
show their own requests only, no task list of a non-agent names an instance, an agent's
queue shows only their groups', and an internal note never reaches the requester.

Every route of `app.url_map` and every operation of `/api/openapi.json` must have a row,
so a new route without one fails here. Before each refused POST, PUT, PATCH or DELETE
every row of every table is read, and read again after: a refusal changes nothing. No
answer is ever a 5xx.
"""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine.service.commands import Commands
from engine.service.people import ensure_user
from engine.service.tokens import issue_token
from engine.store.base import Base
from engine.store.database import Database
from engine.store.instances import Attachment, Instance, Task
from tests.infrastructure import INCIDENT, PACK, Clock, give_password

PASSWORD = "correct horse battery"
OK = "ok"
LOGIN = "login"
#: An internal note on A: agents read it, the requester never does.
NOTE = "Internal: the printer vendor owes us a part"
PERSONAS = ("anonymous", "alice", "sam", "bob", "erin", "dee", "ada")
SIGNED_IN = PERSONAS[1:]
#: Columns that a permitted read may move on: when a token was last used.
VOLATILE = {("api_tokens", "last_used_at"), ("sign_in_sessions", "last_seen_at")}


@dataclass
class World:
    """The objects the matrix acts on, by name: instances, tasks, a token of alice's."""

    a: str  # alice's incident; its work task held by bob (desktop-support)
    b: str  # sam's network incident; its work task queued for the network group
    c: str  # sam's hardware incident; its work task queued for desktop-support
    ta: int
    tb: int
    tc: int
    alice_token_id: int
    file: str  # the storage key of a file attached to B
    tokens: dict[str, str] = field(default_factory=dict)

    def fill(self, path: str) -> str:
        return path.format(
            A=self.a,
            B=self.b,
            C=self.c,
            TA=self.ta,
            TB=self.tb,
            TC=self.tc,
            TOK=self.alice_token_id,
            FILE=self.file,
            NOTE=NOTE,
        )


@dataclass(frozen=True)
class Row:
    """One request and the intended answer of each persona."""

    method: str
    path: str  # a template: {A}, {B}, {TA}, ... are filled from the world
    expect: dict[str, Any]
    data: dict[str, Any] | None = None  # a page's form (CSRF added) or an API's JSON body
    files: bool = False
    #: Per persona, the objects ({A}, {B}, ...) the answer must not mention.
    hides: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def api(self) -> bool:
        return self.path.startswith("/api/")


def each(answer: Any, **overrides: Any) -> dict[str, Any]:
    """The same answer for every persona, but those named."""
    return {persona: overrides.get(persona, answer) for persona in PERSONAS}


def page(signed_in: Any = OK, **overrides: Any) -> dict[str, Any]:
    """A page behind sign-in: anonymous goes to sign-in, the rest as given."""
    return each(signed_in, anonymous=LOGIN, **overrides)


def api(signed_in: Any = OK, **overrides: Any) -> dict[str, Any]:
    """An API operation behind a token: anonymous gets 401, the rest as given."""
    return each(signed_in, anonymous=401, **overrides)


ADMIN_PAGE = page(403, ada=OK)
AGENT_PAGE = page(403, bob=OK, erin=OK, ada=OK)
#: Who may see alice's instance A, and sam's B and C.
SEES_A = {"alice": OK, "sam": 404, "dee": 404}
SEES_B = {"alice": 404, "sam": OK, "dee": 404}

#: Lists show a requester their own requests only, a designer none.
ONLY_OWN: dict[str, tuple[str, ...]] = {
    "alice": ("{B}", "{C}"),
    "sam": ("{A}",),
    "dee": ("{A}", "{B}", "{C}"),
}
#: Nobody but agents has a task here: their task lists name no instance.
NO_TASKS: dict[str, tuple[str, ...]] = dict.fromkeys(("alice", "sam", "dee"), ("{A}", "{B}", "{C}"))


#: A page's field names carry the task: `t<id>.<field>`.
RESOLUTION = {
    "outcome": "resolved",
    "t{TA}.resolution": "Cleared the jam",
    "t{TA}.cause": "hardware-fault",
}

# Reads first, then refused posts, then the posts that are allowed (they change the world,
# so each acts last on an object of its own, and a row after it does not depend on it).
DESIGNER_PAGE = page(403, dee=OK, ada=OK)
DESIGNER_API = each(403, anonymous=401, dee=OK, ada=OK)
#: A designer's call that is checked, not refused: a save naming no revision, a blank draft.
NO_REVISION = each(403, anonymous=401, dee=428, ada=428)
BLANK_DRAFT = each(403, anonymous=401, dee=422, ada=422)

MATRIX: tuple[Row, ...] = (
    # --- public pages and reads
    Row("GET", "/", each(OK)),
    Row("GET", "/health", each(OK)),
    # Open to all, like /health; 503 here, as no worker runs (tests/web/test_ops_ready.py).
    Row("GET", "/ready", each(None)),
    Row("GET", "/metrics", each(OK)),  # the test client asks from loopback
    Row("GET", "/sign-in", each(OK)),
    Row("GET", "/static/site.css", each(OK)),
    Row("GET", "/new/it-incident", each(OK)),
    Row("GET", "/new/no-such-workflow", each(404)),
    Row("GET", "/track/not-a-token", each(404)),
    Row("GET", "/track/not-a-token/files/nothing", each(404)),
    Row("GET", "/api/openapi.json", each(OK)),
    Row("GET", "/api/v1/forms/incident-report/schema", each(OK)),
    Row("GET", "/api/v1/forms/incident-resolution/schema", each(404)),  # not a public form
    # --- signed-in pages
    # Everyone signed in has their own tasks ("Your tasks"); only agents see the queues.
    Row("GET", "/inbox", page(), hides=NO_TASKS),
    Row("GET", "/my-requests", page(), hides=ONLY_OWN),
    Row("GET", "/account", page()),
    # The service desk reads any task of an instance it sees (as the API shows it); acting
    # on it is another matter (the posts below).
    Row("GET", "/tasks/{TA}", page(OK, alice=403, sam=404, dee=404)),
    Row("GET", "/tasks/{TB}", page(OK, alice=404, sam=403, dee=404)),
    Row("GET", "/tasks/{TC}", page(OK, alice=404, sam=403, dee=404)),
    Row("GET", "/tasks/987654", page(404)),
    Row("GET", "/instances/{A}", page(OK, **SEES_A), hides={"alice": ("{NOTE}",)}),
    Row("GET", "/instances/{B}", page(OK, **SEES_B)),
    Row("GET", "/instances/INC-999999", page(404)),
    Row("GET", "/instances/{A}/files/nothing", page(404)),
    Row("GET", "/instances/{B}/files/nothing", page(404)),
    Row("GET", "/instances/{B}/files/{FILE}", page(OK, **SEES_B)),
    Row("GET", "/instances/{A}/files/{FILE}", page(404)),  # B's file asked for through A
    Row("GET", "/admin", ADMIN_PAGE),
    Row("GET", "/admin/users", ADMIN_PAGE),
    Row("GET", "/admin/users/new", ADMIN_PAGE),
    Row("GET", "/admin/users/alice", ADMIN_PAGE),
    Row("GET", "/admin/groups", ADMIN_PAGE),
    Row("GET", "/admin/groups/network", ADMIN_PAGE),
    Row("GET", "/admin/workflows", ADMIN_PAGE),
    Row("GET", "/admin/workflows/it-incident", ADMIN_PAGE),
    Row("GET", "/admin/oncall", ADMIN_PAGE),
    Row("GET", "/admin/oncall/new", ADMIN_PAGE),
    Row("GET", "/admin/oncall/no-such-schedule", page(403, ada=404)),
    Row("GET", "/admin/escalation-policies", ADMIN_PAGE),
    Row("GET", "/oncall/", AGENT_PAGE),
    Row("GET", "/insight", AGENT_PAGE),
    Row("GET", "/insight/sla.csv", AGENT_PAGE),
    Row("GET", "/api/v1/insight", api(403, bob=OK, erin=OK, ada=OK)),
    Row("GET", "/oncall/no-such-schedule.ics?token=wrong", each(404)),
    Row("GET", "/oncall/users/alice.ics?token=wrong", each(404)),
    # The instance list and saved views (ADR 47): lists name only what a persona may see.
    Row("GET", "/instances", page(), hides=ONLY_OWN),
    Row("GET", "/instances?q=printer&sort=-updated", page(), hides=ONLY_OWN),
    Row("GET", "/instances?status=Open!", page(400)),
    Row("GET", "/instances?view=999999", page(404)),
    Row("GET", "/instances.csv", page(), hides=ONLY_OWN),
    Row("GET", "/api/v1/instances?q=printer%20sla:ok,breached", api(), hides=ONLY_OWN),
    Row("GET", "/api/v1/views", api()),
    Row("GET", "/api/v1/views/999999", api(404)),
    Row("GET", "/api/v1/views/999999/export", api(404)),
    Row("PATCH", "/api/v1/views/999999", api(404), {"name": "Mine now"}),
    Row("DELETE", "/api/v1/views/999999", api(404)),
    Row("POST", "/views/999999/rename", page(404), {"name": "Mine now"}),
    Row("POST", "/views/999999/share", page(404), {"share_with": "network"}),
    Row("POST", "/views/999999/delete", page(404)),
    # --- API reads
    Row("GET", "/api/v1/me", api()),
    Row("GET", "/api/v1/instances", api(), hides=ONLY_OWN),
    Row("GET", "/api/v1/instances?requester=sam", api(), hides=ONLY_OWN),
    Row("GET", "/api/v1/instances?text=INC", api(), hides=ONLY_OWN),
    Row("GET", "/api/v1/instances/{A}", api(OK, **SEES_A), hides={"alice": ("{NOTE}",)}),
    Row("GET", "/api/v1/instances/{B}", api(OK, **SEES_B)),
    Row("GET", "/api/v1/instances/{A}/comments", api(OK, **SEES_A), hides={"alice": ("{NOTE}",)}),
    Row("GET", "/api/v1/instances/{B}/comments", api(OK, **SEES_B)),
    # Similar incidents are the desk's (ADR 58): a requester who sees A is refused, 403.
    Row("GET", "/api/v1/instances/{A}/similar", api(OK, alice=403, sam=404, dee=404)),
    Row("GET", "/api/v1/tasks", api(), hides=NO_TASKS),
    Row("GET", "/api/v1/tasks?view=queue", api(), hides=NO_TASKS),
    Row(
        "GET", "/api/v1/tasks?view=queue&group=network", api(), hides={**NO_TASKS, "bob": ("{B}",)}
    ),
    Row(
        "GET",
        "/api/v1/tasks?view=queue&group=desktop-support",
        api(),
        hides={**NO_TASKS, "erin": ("{C}",)},
    ),
    Row(
        "GET",
        "/inbox?queue_page=1",
        page(),
        hides={**NO_TASKS, "bob": ("{B}",), "erin": ("{A}", "{C}")},
    ),
    Row("GET", "/api/v1/tasks/{TA}", api(OK, **SEES_A), hides={"alice": ("{NOTE}",)}),
    Row("GET", "/api/v1/tasks/{TB}", api(OK, **SEES_B)),
    Row("GET", "/api/v1/workflows", api()),
    Row("GET", "/api/v1/workflows/it-incident/versions/1", api()),
    Row("GET", "/api/v1/schedules", api()),
    Row("GET", "/api/v1/schedules/no-such-schedule/oncall", api(404)),
    # The service catalogue (issue 18): anyone with a token reads it, admins change it.
    Row("GET", "/api/v1/services", api()),
    Row("GET", "/api/v1/services/no-such-service", api(404)),
    # Retention (ADR 55): anyone with a token reads the policies; admins set them and read
    # the archive.
    Row("GET", "/api/v1/retention", api()),
    Row("GET", "/api/v1/retention/no-such-workflow", api(404)),
    Row("GET", "/api/v1/archive/INC-999999", api(403, ada=404)),
    Row("GET", "/admin/retention", ADMIN_PAGE),
    Row("GET", "/admin/retention/archive?number=INC-999999", page(403, ada=404)),
    # --- refused posts: pages
    Row("POST", "/sign-in", each(401), {"username": "alice", "password": "wrong guess"}),
    Row("POST", "/new/it-incident", each(422), {"summary": ""}),
    Row("POST", "/track/not-a-token/comments", each(404), {"comment": "Hello"}),
    Row("POST", "/track/not-a-token/files", each(404), {}, files=True),
    Row("POST", "/track/not-a-token/reopen", each(404), {"reason": "Back again"}),
    Row("POST", "/track/not-a-token/tasks/{TA}", each(404), {"outcome": "approved"}),
    Row(
        "POST",
        "/tasks/{TA}/complete",
        page(403, sam=404, dee=404, bob=None),
        RESOLUTION,
    ),
    Row("POST", "/tasks/{TA}/claim", page(403, bob=OK, ada=403)),
    Row("POST", "/tasks/{TB}/claim", page(403, erin=OK)),
    Row("POST", "/tasks/{TB}/unclaim", page(403, erin=OK)),
    Row("POST", "/tasks/{TA}/unclaim", page(403, bob=None)),
    Row("POST", "/tasks/{TA}/reassign", page(403, bob=None, ada=None), {"user": "dan"}),
    Row("POST", "/tasks/{TB}/reassign", page(403, erin=OK, ada=None), {"user": "erin"}),
    Row("POST", "/tasks/{TA}/delegate", page(403, bob=None), {"to": "dan"}),
    Row("POST", "/tasks/{TB}/delegate", page(403, erin=422), {"to": "erin"}),  # she holds it
    # A comment from a task page is the instance's, which any agent may write on.
    Row("POST", "/tasks/{TA}/comments", page(403, bob=OK, erin=OK, ada=OK), {"comment": "A note"}),
    Row("POST", "/tasks/{TB}/comments", page(403, bob=OK, erin=OK, ada=OK), {"comment": "A note"}),
    Row("POST", "/tasks/987654/claim", page(403, bob=404, erin=404, ada=404)),
    Row(
        "POST",
        "/instances/{A}/comments",
        page(403, bob=OK, erin=OK, ada=OK),
        {"comment": "x"},
    ),
    Row(
        "POST",
        "/instances/INC-999999/comments",
        page(403, bob=404, erin=404, ada=404),
        {"comment": "x"},
    ),
    Row("POST", "/account/tokens/{TOK}/revoke", page(404, alice=OK)),
    Row("POST", "/admin/users", page(403, ada=OK), {"username": "mallory", "roles": "admin"}),
    Row("POST", "/admin/users/alice", page(403, ada=OK), {"name": "Mallory", "roles": "admin"}),
    Row("POST", "/admin/users/alice/password", page(403, ada=OK), {"password": "mallory-was-here"}),
    Row("POST", "/admin/groups", page(403, ada=OK), {"key": "mallory", "name": "Mallory"}),
    Row("POST", "/admin/groups/network", page(403, ada=OK), {"name": "Mallory's"}),
    Row("POST", "/admin/groups/network/members", page(403, ada=OK), {"username": "sam"}),
    Row("POST", "/admin/groups/network/members/erin/remove", page(403, ada=OK)),
    Row("POST", "/admin/workflows/import", page(403, ada=OK), {}, files=True),
    Row("POST", "/admin/oncall", page(403, ada=422), {"key": "night", "layers": "[{}]"}),
    Row("POST", "/admin/oncall/night", page(403, ada=404), {"time_zone": "Mars/Olympus"}),
    Row("POST", "/admin/oncall/night/overrides", page(403, ada=404), {"person": "sam"}),
    Row("POST", "/admin/oncall/night/overrides/1/delete", page(403, ada=404)),
    Row("POST", "/admin/oncall/night/feed", page(403, ada=404)),
    Row("POST", "/admin/oncall/night/delete", page(403, ada=404)),
    Row("POST", "/admin/escalation-policies", page(403, ada=422), {"key": "p", "document": "{}"}),
    Row("POST", "/admin/escalation-policies/p/delete", page(403, ada=404)),
    Row("POST", "/oncall/my-feed", AGENT_PAGE),
    # --- refused posts: API
    # Only admins change the catalogue; a service names only an on-call schedule that exists.
    Row(
        "PUT",
        "/api/v1/services/matrix-service",
        api(403, ada=422),
        {"name": "Matrix", "schedule_key": "no-such-schedule"},
    ),
    Row("DELETE", "/api/v1/services/no-such-service", api(403, ada=404)),
    Row(
        "POST",
        "/api/v1/instances/{A}/cancel",
        api(403, bob=None, erin=None, ada=None),
        {"reason": "no"},
    ),
    Row(
        "POST",
        "/api/v1/instances/{B}/cancel",
        api(403, bob=None, erin=None, ada=None),
        {"reason": "no"},
    ),
    Row(
        "POST",
        "/api/v1/instances/{B}/comments",
        api(404, sam=OK, bob=OK, erin=OK, ada=OK),
        {"text": "hi"},
    ),
    Row(
        "POST",
        "/api/v1/instances/{A}/comments",
        api(403, bob=OK, erin=OK, ada=OK, sam=404, dee=404),
        {"text": "note", "public": False},
    ),
    Row(
        "POST",
        "/api/v1/tasks/{TA}/claim",
        api(403, sam=404, dee=404, bob=OK, alice=403, erin=403, ada=403),
    ),
    Row("POST", "/api/v1/tasks/{TB}/claim", api(403, alice=404, dee=404, erin=OK)),
    Row(
        "POST",
        "/api/v1/tasks/{TA}/complete",
        api(403, sam=404, dee=404, bob=None),
        {"outcome": "resolved", "data": {"resolution": "x"}},
    ),
    Row("POST", "/api/v1/workflows", api(403, dee=422, ada=422), {}),  # checked, not refused
    # Retrying is for admins; nothing of A stopped on an incident, so even theirs is refused.
    Row("POST", "/api/v1/instances/{A}/retry", api(403, ada=409)),
    Row("POST", "/instances/{A}/retry", page(403, ada=409)),
    Row("POST", "/api/v1/forms/incident-resolution/validate", each(404), {}),
    # Services and monitoring intake (ADR 50): admins keep the catalogue; the intake answers
    # to an integration's token, not to a person.
    Row("GET", "/admin/services", ADMIN_PAGE),
    Row("POST", "/admin/services", page(403, ada=422), {"key": "Not a key!"}),
    Row("GET", "/admin/services/no-such-service", page(403, ada=404)),
    Row("POST", "/admin/services/no-such-service", page(403, ada=404), {"name": "x"}),
    Row("POST", "/admin/services/no-such-service/delete", page(403, ada=404)),
    Row("POST", "/admin/services/no-such-service/integrations", page(403, ada=404), {}),
    Row("POST", "/admin/services/no-such-service/integrations/987654/revoke", page(403, ada=404)),
    Row("PUT", "/api/v1/retention/no-such-workflow", api(403, ada=404), {"action": "keep"}),
    Row("POST", "/admin/retention/no-such-workflow", page(403, ada=404), {"action": "keep"}),
    # The body is read before the token: PagerDuty's events carry theirs in it.
    Row("POST", "/intake/alertmanager", each(400), {}),
    Row("POST", "/intake/pagerduty/v2/enqueue", each(400), {}),
    # Acknowledging stops the response clock, again and again: the desk only.
    Row("POST", "/instances/{A}/acknowledge", page(403, bob=OK, erin=OK, ada=OK)),
    # Starting and acting on an instance (ADR 48): refusals and checks that change nothing.
    Row("GET", "/requests/new", page()),
    Row("GET", "/requests/new/service-request", page()),
    Row("GET", "/requests/new/no-such-workflow", page(404)),
    Row("GET", "/requests/log", AGENT_PAGE),
    Row("GET", "/requests/log/it-incident", AGENT_PAGE),
    Row("POST", "/requests/new/service-request", page(422), {}),
    Row("POST", "/requests/log/it-incident", page(403, bob=422, erin=422, ada=422), {}),
    Row("POST", "/instances/{A}/cancel", page(403, bob=422, erin=422, ada=422), {}),
    Row("POST", "/instances/{A}/reopen", page(409, sam=404, dee=404), {"reason": "x"}),
    Row(
        "POST",
        "/instances/{A}/priority",
        page(403, bob=422, erin=422, ada=422),
        {"priority": "P9", "reason": "x"},
    ),
    Row("POST", "/instances/{A}/links", page(403, bob=422, erin=422, ada=422), {"other": "{A}"}),
    Row(
        "POST",
        "/instances/{A}/duplicate",
        page(403, bob=422, erin=422, ada=422),
        {"original": "{A}", "reason": "x"},
    ),
    Row("GET", "/api/v1/instances/{A}/links", api(403, bob=OK, erin=OK, ada=OK)),
    Row("POST", "/api/v1/instances/{A}/reopen", api(409, sam=404, dee=404), {"reason": "x"}),
    Row(
        "POST",
        "/api/v1/instances/{A}/priority",
        api(403, bob=422, erin=422, ada=422),
        {"priority": "P9", "reason": "x"},
    ),
    Row(
        "POST",
        "/api/v1/instances/{A}/links",
        api(403, bob=422, erin=422, ada=422),
        {"number": "INC-999999"},
    ),
    Row(
        "POST",
        "/api/v1/instances/{A}/duplicate",
        api(403, bob=422, erin=422, ada=422),
        {"original": "INC-999999", "reason": "x"},
    ),
    # Problems and recurring incidents (docs/problems.md): the service desk only. Checked, not
    # refused: a problem opened from no incident (422), a problem that does not exist (404).
    Row("GET", "/problems", AGENT_PAGE),
    Row("POST", "/problems", page(403, bob=422, erin=422, ada=422), {"back": "problems"}),
    Row(
        "POST",
        "/problems/link",
        page(403, bob=404, erin=404, ada=404),
        {"problem": "PRB-999999", "incident": "{A}", "back": "problems"},
    ),
    Row(
        "POST",
        "/problems/unlink",
        page(403, bob=404, erin=404, ada=404),
        {"problem": "PRB-999999", "incident": "{A}", "back": "problems"},
    ),
    Row("POST", "/api/v1/problems", api(403, bob=422, erin=422, ada=422), {"incidents": []}),
    Row("GET", "/api/v1/problems/PRB-999999", api(403, bob=404, erin=404, ada=404)),
    Row(
        "POST",
        "/api/v1/problems/PRB-999999/incidents",
        api(403, bob=404, erin=404, ada=404),
        {"number": "INC-999999"},
    ),
    Row(
        "DELETE",
        "/api/v1/problems/PRB-999999/incidents/{A}",
        api(403, bob=404, erin=404, ada=404),
    ),
    Row(
        "POST",
        "/api/v1/problems/PRB-999999/known-error",
        api(403, bob=404, erin=404, ada=404),
        {"root_cause": "x", "workaround": "y"},
    ),
    Row(
        "POST",
        "/api/v1/problems/PRB-999999/resolve",
        api(403, bob=404, erin=404, ada=404),
        {"resolution": "x"},
    ),
    Row("GET", "/api/v1/instances/{A}/problem", api(403, bob=OK, erin=OK, ada=OK)),
    Row("GET", "/api/v1/recurring", api(403, bob=OK, erin=OK, ada=OK)),
    # Postmortems (docs/postmortems.md): the service desk only, major incidents only. A is an
    # IT incident: the desk is told so (422), anyone else is refused first (403).
    Row("GET", "/postmortem-print.css", each(OK)),
    Row("GET", "/instances/{A}/postmortem", page(403, bob=422, erin=422, ada=422)),
    Row("GET", "/instances/INC-999999/postmortem", page(403, bob=404, erin=404, ada=404)),
    Row("GET", "/instances/{A}/postmortem.md", page(403, bob=422, erin=422, ada=422)),
    Row("GET", "/instances/{A}/postmortem/print", page(403, bob=422, erin=422, ada=422)),
    Row("POST", "/instances/{A}/postmortem", page(403, bob=422, erin=422, ada=422), {}),
    Row(
        "POST",
        "/instances/{A}/postmortem/text",
        page(403, bob=422, erin=422, ada=422),
        {"body": "# Mine", "revision": "1"},
    ),
    Row(
        "POST",
        "/instances/{A}/postmortem/preview",
        page(403, bob=422, erin=422, ada=422),
        {"body": "# Mine"},
    ),
    Row(
        "POST",
        "/instances/{A}/postmortem/actions",
        page(403, bob=422, erin=422, ada=422),
        {"title": "Alarm", "owner": "sam", "due": "2099-01-01"},
    ),
    Row("GET", "/api/v1/instances/{A}/postmortem", api(403, bob=422, erin=422, ada=422)),
    Row("POST", "/api/v1/instances/{A}/postmortem", api(403, bob=422, erin=422, ada=422), {}),
    Row(
        "PUT",
        "/api/v1/instances/{A}/postmortem",
        api(403, bob=422, erin=422, ada=422),
        {"body": "# Mine", "revision": 1},
    ),
    Row(
        "POST",
        "/api/v1/instances/{A}/postmortem/actions",
        api(403, bob=422, erin=422, ada=422),
        {"title": "Alarm", "owner": "sam", "due": "2099-01-01"},
    ),
    Row("GET", "/api/v1/instances/{A}/postmortem/markdown", api(403, bob=422, erin=422, ada=422)),
    Row("GET", "/api/v1/instances/{A}/postmortem/html", api(403, bob=422, erin=422, ada=422)),
    # Notifications (ADR 49): each person reads and marks only their own; the outbox is
    # for admins. Checked, not refused: an unknown kind of mail (422).
    Row("GET", "/notifications", page(), hides=ONLY_OWN),
    Row("GET", "/notifications?unread=1", page(), hides=ONLY_OWN),
    Row("GET", "/notifications/unread", page()),
    Row("GET", "/notifications/settings", page()),
    Row("POST", "/notifications/987654/read", page(404)),
    Row("POST", "/notifications/settings", page(422), {"mail": "lottery"}),
    Row("GET", "/admin/outbox", ADMIN_PAGE),
    Row("GET", "/admin/outbox/987654", page(403, ada=404)),
    Row("GET", "/api/v1/notifications", api(), hides=ONLY_OWN),
    Row("GET", "/api/v1/notifications/settings", api()),
    Row("POST", "/api/v1/notifications/987654/read", api(404)),
    Row("PUT", "/api/v1/notifications/settings", api(422), {"mail": ["lottery"]}),
    # --- allowed posts, each on an object of its own
    Row("POST", "/api/v1/forms/incident-report/validate", each(OK), {}),
    Row("POST", "/api/v1/self-help", each(OK), {"text": "The printer is jammed"}),
    Row("POST", "/account/tokens", page(), {"name": "matrix"}),
    Row("POST", "/account/reading", page(), {"time_zone": "Europe/Paris", "locale": "fr_FR"}),
    Row("PATCH", "/api/v1/me", api(), {"time_zone": "Asia/Kolkata"}),
    Row("POST", "/api/v1/instances", api(OK), {"workflow": "it-incident", "data": INCIDENT}),
    Row(
        "POST",
        "/api/v1/calls",
        api(403, bob=OK, erin=OK, ada=OK),
        {
            "workflow": "it-incident",
            "data": INCIDENT,
            "channel": "phone",
            "caller": {"user": "sam"},
        },
    ),
    Row("POST", "/api/v1/views", api(OK), {"name": "Matrix view", "filters": {"sla": "ok"}}),
    Row("PUT", "/api/v1/services/matrix-service", api(403, ada=OK), {"name": "Matrix"}),
    Row("POST", "/views", page(OK), {"name": "Matrix view", "status": "open"}),
    Row("POST", "/api/v1/instances/{A}/comments", api(OK, sam=404, dee=404), {"text": "hi"}),
    Row("POST", "/tasks/{TC}/claim", page(403, bob=OK)),
    Row("POST", "/tasks/{TC}/comments", page(403, bob=OK, erin=OK, ada=OK), {"comment": "On it"}),
    Row("POST", "/tasks/{TC}/unclaim", page(403, bob=OK, ada=403)),
    Row("POST", "/api/v1/tasks/{TC}/claim", api(403, alice=404, dee=404, bob=OK)),
    Row("POST", "/tasks/{TC}/delegate", page(403, bob=OK), {"to": "dan"}),
    Row("POST", "/tasks/{TC}/reassign", page(403, bob=OK, ada=OK), {"group": "network"}),
    Row(
        "POST",
        "/account/password",
        page(),
        {"current_password": PASSWORD, "new_password": PASSWORD, "confirm_password": PASSWORD},
    ),
    Row("POST", "/tasks/{TA}/complete", page(403, sam=404, dee=404, bob=OK), RESOLUTION),
    Row(
        "POST",
        "/api/v1/instances/{C}/cancel",
        api(403, sam=403, bob=OK, erin=OK, ada=OK, dee=403),
        {"reason": "A duplicate"},
    ),
    Row(
        "POST",
        "/api/v1/tasks/{TB}/complete",
        api(403, alice=404, dee=404, erin=OK),
        {"outcome": "resolved", "data": {"resolution": "Replaced the switch"}},
    ),
    # The form designer (designer/): designers and admins only; its JSON API answers 401
    # rather than redirecting. Checked, not refused: a blank draft does not publish (422),
    # a save without a revision is refused (428).
    Row("GET", "/designer/", DESIGNER_PAGE),
    Row("GET", "/designer/forms/incident-report", DESIGNER_PAGE),
    # Its scripts and styles are the open-source app's own code, not data: served to anyone,
    # as /static is, without the session and user lookups a page's ~20 modules would cost.
    Row("GET", "/designer/static/editor.js", each(OK)),
    Row("GET", "/designer/static/workflow/editor.js", each(OK)),
    Row("POST", "/designer/new", DESIGNER_PAGE, {"key": "matrix-form"}),
    Row("GET", "/designer/api/forms", DESIGNER_API),
    Row("GET", "/designer/api/forms/incident-report/draft", DESIGNER_API),
    Row("PUT", "/designer/api/forms/matrix-form/draft", NO_REVISION),
    Row("POST", "/designer/api/forms/matrix-form/check", DESIGNER_API),
    Row("POST", "/designer/api/forms/matrix-form/preview", DESIGNER_API),
    Row("POST", "/designer/api/forms/matrix-form/publish", BLANK_DRAFT),
    Row("GET", "/designer/api/forms/incident-report/versions", DESIGNER_API),
    Row("GET", "/designer/api/forms/incident-report/diff?from=1&to=1", DESIGNER_API),
    # The workflow designer: the same people. Checked, not refused: a reserved key (422), a
    # workflow that exists already (409), publishing one never created (404).
    Row("GET", "/designer/workflows/it-incident", DESIGNER_PAGE),
    Row("POST", "/designer/workflows/new", page(403, dee=422, ada=422), {"key": "context"}),
    Row("GET", "/designer/api/workflows", DESIGNER_API),
    Row("GET", "/designer/api/workflows/context", DESIGNER_API),
    Row("GET", "/designer/api/workflows/templates", DESIGNER_API),
    Row("GET", "/designer/api/workflows/it-incident/draft", DESIGNER_API),
    Row("PUT", "/designer/api/workflows/matrix-flow/draft", NO_REVISION),
    Row(
        "POST",
        "/designer/api/workflows/it-incident/new",
        each(403, anonymous=401, dee=409, ada=409),
    ),
    Row("POST", "/designer/api/workflows/it-incident/check", DESIGNER_API),
    Row(
        "POST",
        "/designer/api/workflows/matrix-flow/publish",
        each(403, anonymous=401, dee=404, ada=404),
    ),
    Row("GET", "/designer/api/workflows/it-incident/versions", DESIGNER_API),
    Row("GET", "/designer/api/workflows/it-incident/diff?from=1&to=1", DESIGNER_API),
    Row("POST", "/designer/api/workflows/it-incident/simulate", DESIGNER_API, {"actions": []}),
    Row("POST", "/notifications/read", page()),
    Row("POST", "/api/v1/notifications/read", api()),
    Row("POST", "/notifications/settings", page(), {"mail": "assigned"}),
    Row("POST", "/sign-out", each(302)),
)


def rule_of(row: Row) -> str:
    """The url_map rule a row exercises, as `METHOD /path/<arg>`."""
    return f"{row.method} {row.path}"


def covers(template: str, rule: str) -> bool:
    """Tell whether a row's path template matches a url_map or OpenAPI path pattern."""
    pattern = re.sub(
        r"<[^>]+>|\\\{[^}]+\\\}", "[^/]+", re.escape(rule).replace(r"\<", "<").replace(r"\>", ">")
    )
    filled = re.sub(r"\{[A-Z]+\}", "x", template.partition("?")[0])
    return re.fullmatch(pattern, filled) is not None


def test_every_route_has_a_row_in_the_matrix(app: Flask) -> None:
    missing = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if not any(r.method == method and covers(r.path, rule.rule) for r in MATRIX):
                missing.append(f"{method} {rule.rule}")
    assert missing == [], "routes without a row in the authorization matrix"


def test_every_api_operation_has_a_row_in_the_matrix(client: FlaskClient) -> None:
    document: dict[str, Any] = client.get("/api/openapi.json").get_json()
    missing = []
    for path, operations in document["paths"].items():
        for method in operations:
            if method.upper() not in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
                continue
            full = f"/api/v1{path}" if not path.startswith("/api/") else path
            if not any(r.method == method.upper() and covers(r.path, full) for r in MATRIX):
                missing.append(f"{method.upper()} {full}")
    assert missing == [], "API operations without a row in the authorization matrix"


def _tables(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in key order, without the columns a read may touch."""
    snapshot = {}
    with database.reading() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if (table.name, c.name) not in VOLATILE]
            order = list(table.primary_key.columns) or columns
            rows = session.execute(select(*columns).order_by(*order)).all()
            snapshot[table.name] = [tuple(row) for row in rows]
    return snapshot


def _open_task(database: Database, number: str) -> Task:
    with database.reading() as session:
        task = session.scalars(
            select(Task)
            .join(Instance, Instance.id == Task.instance_id)
            .where(Instance.number == number, Task.status == "open")
        ).one()
        session.expunge_all()
        return task


def _queued(commands: Commands, number: str, database: Database) -> int:
    """Put the open task of an instance back in its group's queue; return its id."""
    task = _open_task(database, number)
    if task.assignee is not None:
        commands.unclaim(task.id, actor=task.assignee)
    return task.id


def build_world(app: Flask, database: Database, commands: Commands, clock: Clock) -> World:
    """Alice's incident held by bob, sam's queued for network and for desktop-support."""
    app.extensions["flowdesk"].commands.clock = clock
    now = clock()
    with database.writer_session() as session, session.begin():
        ensure_user(session, "alice", now, roles=["requester"])
        ensure_user(session, "sam", now, roles=["requester"])
        ensure_user(session, "dee", now, roles=["designer"])
        ensure_user(session, "ada", now, roles=["admin"])
        for username in SIGNED_IN:
            give_password(session, username, PASSWORD)
        tokens = {u: issue_token(session, u, "matrix", now)[1] for u in SIGNED_IN}
        alice_token_id = issue_token(session, "alice", "kept", now)[0]
    a = commands.start("it-incident", dict(INCIDENT), requester="alice")["number"]
    b = commands.start("it-incident", {**INCIDENT, "category": "network"}, requester="sam")[
        "number"
    ]
    c = commands.start("it-incident", dict(INCIDENT), requester="sam")["number"]
    ta = _open_task(database, a)
    if ta.assignee != "bob":
        commands.reassign(ta.id, actor=str(ta.assignee), user="bob")
    tb, tc = _queued(commands, b, database), _queued(commands, c, database)
    assert _open_task(database, b).candidate_group == "network"
    assert _open_task(database, c).candidate_group == "desktop-support"
    commands.comment(a, NOTE, actor="bob", public=False)
    stored = app.extensions["flowdesk"].files.put(io.BytesIO(b"%PDF-1.4 sam's"), limit=1024)
    with database.writer_session() as session, session.begin():
        b_id = session.scalar(select(Instance.id).where(Instance.number == b))
        session.add(
            Attachment(
                instance_id=b_id,
                field="screenshots",
                filename="sams.pdf",
                content_type="application/pdf",
                size=stored.size,
                sha256=stored.sha256,
                storage_key=stored.key,
                uploaded_by="sam",
                created_at=now,
            )
        )
    return World(a, b, c, ta.id, tb, tc, alice_token_id, stored.key, tokens)


def _csrf(client: FlaskClient) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").text)
    assert found is not None
    return found.group(1)


def _signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    if username != "anonymous":
        response = client.post(
            "/sign-in",
            data={"csrf_token": _csrf(client), "username": username, "password": PASSWORD},
        )
        assert response.status_code == 302, f"{username} could not sign in"
    return client


def _send(client: FlaskClient, world: World, persona: str, row: Row) -> Any:
    """Send a row's request: pages with the persona's session, the API with a bearer token."""
    path = world.fill(row.path)
    if row.api:
        # A cookie-less client, as scripts are: with a session, the API counts the session.
        client = client.application.test_client()
        headers = {}
        if persona != "anonymous":
            headers["Authorization"] = f"Bearer {world.tokens[persona]}"
        if row.method == "GET":
            return client.get(path, headers=headers)
        return client.open(path, method=row.method, json=row.data or {}, headers=headers)
    if row.method == "GET":
        return client.get(path)
    form: dict[str, Any] = {"csrf_token": _csrf(client), "submission": str(uuid.uuid4())}
    form.update({world.fill(name): value for name, value in (row.data or {}).items()})
    if row.files:
        form["document"] = (
            io.BytesIO((PACK / "it-incident.json").read_bytes()),
            "it-incident.json",
        )
    return client.open(path, method=row.method, data=form)


def _verdict(response: Any) -> Any:
    status = response.status_code
    location = response.headers.get("Location", "")
    if status == 302 and "/sign-in" in location:
        return LOGIN
    if status in (200, 201, 303) or (status == 302 and "/sign-in" not in location):
        return OK if status != 302 else 302
    return status


def _matches(expected: Any, got: Any) -> bool:
    return bool(got == expected or (expected == OK and got == 302))


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_answer_is_the_intended_one_and_a_refusal_changes_nothing(
    persona: str, app: Flask, database: Database, commands: Commands, clock: Clock
) -> None:
    world = build_world(app, database, commands, clock)
    client = _signed_in(app, persona)
    if persona != "anonymous":  # a token's first use stamps it; that is not a change
        assert (
            client.get(
                "/api/v1/me", headers={"Authorization": f"Bearer {world.tokens[persona]}"}
            ).status_code
            == 200
        )
    mismatches = []
    # The tables as the last refused POST left them, while no other request came after it:
    # the next refusal's "before" (reading every table is most of this test's time).
    last: dict[str, list[tuple[Any, ...]]] | None = None
    for row in MATRIX:
        expected = row.expect[persona]
        if expected is None:
            continue  # this persona's answer depends on an earlier row; it has its own row
        refused = expected not in (OK, 201, 302)
        before = (last or _tables(database)) if refused and row.method != "GET" else None
        last = None
        response = _send(client, world, persona, row)
        response.close()
        got = _verdict(response)
        where = f"{row.method} {world.fill(row.path)}"
        if response.status_code >= 500:
            mismatches.append(f"{where}: server error {response.status_code}")
        elif not _matches(expected, got):
            mismatches.append(f"{where}: expected {expected}, got {got}")
        for hidden in row.hides.get(persona, ()):
            if world.fill(hidden) in response.get_data(as_text=True):
                mismatches.append(f"{where}: the answer shows {world.fill(hidden)}")
        if before is not None:
            last = _tables(database)
            if last != before:
                mismatches.append(f"{where}: refused ({got}) but the database changed")
    assert mismatches == [], f"{persona}:\n" + "\n".join(mismatches)
