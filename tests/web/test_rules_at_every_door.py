"""Every rule holds at every door: the web pages, the REST API and the command line.

Each rule lives in the service layer, so each door gets the same refusal, at the same
field, and a refusal changes nothing. A door that cannot even express an input (a web
form offers no control for a field the step keeps read-only) is left out of that case;
the page test below shows the field is not offered there.
"""

from __future__ import annotations

import html as html_text
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from engine.catalog import Document
from engine.service.catalogue import Catalogue
from engine.service.commands import Commands
from engine.service.definitions import publish_all
from engine.service.errors import NotAllowed
from engine.service.escalation_policies import EscalationPolicies
from engine.service.people import ensure_user
from engine.service.tokens import issue_token
from engine.store.database import Database
from engine.store.instances import Comment, Event, Instance, Task
from engine.store.notifications import Notification
from engine.store.people import User
from tests.infrastructure import INCIDENT, MAJOR, give_password
from tests.web.conftest import hidden_fields
from web.cli import main

PASSWORD = "a long enough password"

REQUEST_FORM = {
    "kind": "form",
    "format": 1,
    "key": "purchase-request",
    "title": "Buy something",
    "fields": [
        {"key": "item", "type": "text", "label": "What do you need?", "required": True},
        {"key": "cost", "type": "number", "label": "Cost (EUR)", "min": 0, "required": True},
        {"key": "manager", "type": "user", "label": "Your manager", "required": True},
        {"key": "terms", "type": "checkbox", "label": "I accept the terms", "required": True},
        {"key": "paid_by", "type": "service", "label": "Which service pays for it?"},
    ],
}
DELIVERY_FORM = {
    "kind": "form",
    "format": 1,
    "key": "purchase-delivery",
    "title": "Delivery",
    "fields": [
        {"key": "supplier", "type": "text", "label": "Supplier"},
        {"key": "cost", "type": "number", "label": "Cost (EUR)", "min": 0},
        {"key": "paid_by", "type": "service", "label": "Which service pays for it?"},
    ],
}


def purchase(key: str, approver: dict[str, Any]) -> dict[str, Any]:
    """A public purchase request: an approval (by `approver`), then delivery by the desk."""
    return {
        "kind": "workflow",
        "format": 1,
        "key": key,
        "title": "Purchase",
        "start": {
            "form": "purchase-request",
            "public": True,
            "number_prefix": "PUR",
            "service": "paid_by",
        },
        "first": "approve",
        "steps": {
            "approve": {
                "type": "approval",
                "assign": approver,
                "form": "approval-decision",
                "on": {"approved": "deliver", "rejected": "declined"},
            },
            "deliver": {
                "type": "task",
                "assign": {"group": "service-desk"},
                "form": "purchase-delivery",
                "fields": {"supplier": "required", "cost": "read_only"},
                "next": "done",
            },
            "declined": {"type": "end", "status": "declined"},
            "done": {"type": "end", "status": "delivered"},
        },
    }


def checked_in_parallel() -> dict[str, Any]:
    """A check and an approval side by side; whoever checked may not approve (`not_by`)."""
    return {
        "kind": "workflow",
        "format": 1,
        "key": "checked-purchase",
        "title": "Checked purchase",
        "start": {"form": "purchase-request", "number_prefix": "CHK"},
        "first": "both",
        "steps": {
            "both": {
                "type": "parallel",
                "branches": {
                    "checking": {
                        "first": "check",
                        "steps": {
                            "check": {
                                "type": "task",
                                "label": "Check the quote",
                                "assign": {"group": "approvers"},
                                "next": "checked",
                            },
                            "checked": {"type": "end"},
                        },
                    },
                    "approving": {
                        "first": "approve",
                        "steps": {
                            "approve": {
                                "type": "approval",
                                "assign": {"group": "approvers"},
                                "form": "approval-decision",
                                "not_by": ["check"],
                                "on": {"approved": "approved", "rejected": "refused"},
                            },
                            "approved": {"type": "end"},
                            "refused": {"type": "end"},
                        },
                    },
                },
                "next": "done",
            },
            "done": {"type": "end", "status": "done"},
        },
    }


GOOD = {"item": "A monitor", "cost": 250, "manager": "maria", "terms": True}
ROUND_ROBIN = {"group": "approvers", "strategy": "round_robin"}


@pytest.fixture
def world(app: Flask, database: Database, commands: Commands) -> None:
    """The pack, two purchase workflows, and the people: alice asks, maria approves."""
    now = datetime.now(UTC)
    documents = [
        Document(Path("purchase-request.json"), REQUEST_FORM),
        Document(Path("purchase-delivery.json"), DELIVERY_FORM),
        Document(Path("purchase.json"), purchase("purchase", {"user": "{{ manager }}"})),
        Document(Path("team.json"), purchase("team-purchase", {"group": "approvers"})),
        Document(Path("turns.json"), purchase("turns-purchase", ROUND_ROBIN)),
        Document(Path("checked.json"), checked_in_parallel()),
    ]
    with database.writer_session() as session, session.begin():
        for name, groups in {"alice": ["approvers"], "maria": ["approvers"], "carl": []}.items():
            ensure_user(session, name, now, groups=groups)
        publish_all(session, documents, now, "test")  # the groups it names exist now
        ensure_user(session, "gone", now)
        session.execute(update(User).where(User.username == "gone").values(active=False))
        for name in ("alice", "maria", "carl", "bob", "ivy"):
            give_password(session, name, PASSWORD)
    return


def counts(database: Database) -> tuple[int, ...]:
    """What a refused command must leave as it was."""
    with database.reading() as session:
        return (
            int(session.scalar(select(func.count()).select_from(Instance)) or 0),
            int(session.scalar(select(func.count()).select_from(Event)) or 0),
            int(session.scalar(select(func.count()).select_from(Comment)) or 0),
            int(session.scalar(select(func.count()).where(Task.status == "open")) or 0),
        )


@dataclass(frozen=True)
class Answer:
    """What a door said: refused or not, the kind of refusal, and its words by field."""

    refused: bool
    kind: str  # "invalid", "not_allowed", or "" when it went through
    words: str  # everything the door said, to look for a field's message in

    def says(self, field: str, fragment: str) -> bool:
        return field in self.words and fragment.lower() in self.words.lower()


class Door(Protocol):
    name: str

    def start(self, workflow: str, data: dict[str, Any], user: str) -> Answer: ...

    def complete(
        self, task: int, outcome: str, data: dict[str, Any], user: str, comment: str = ""
    ) -> Answer: ...

    def claim(self, task: int, user: str) -> Answer: ...

    def queue(self, user: str) -> str:
        """What the door lists as the user's open tasks and their groups' queue."""
        ...


class Web:
    """The pages: the public form for a signed-in requester, and the task page."""

    name = "web"

    def __init__(self, app: Flask) -> None:
        self.app = app

    def _client(self, user: str) -> FlaskClient:
        client = self.app.test_client()
        page = client.get("/sign-in")
        token = hidden_fields(page.text)["csrf_token"]
        signed = client.post(
            "/sign-in", data={"csrf_token": token, "username": user, "password": PASSWORD}
        )
        assert signed.status_code == 302, signed.text
        return client

    def start(self, workflow: str, data: dict[str, Any], user: str) -> Answer:
        client = self._client(user)
        form = hidden_fields(client.get(f"/new/{workflow}").text)
        post = {**form, **{k: _posted(v) for k, v in data.items() if v is not False}}
        response = client.post(f"/new/{workflow}", data=post)
        return _page_answer(response.status_code, response.text)

    def complete(
        self, task: int, outcome: str, data: dict[str, Any], user: str, comment: str = ""
    ) -> Answer:
        client = self._client(user)
        page = client.get(f"/tasks/{task}")
        if page.status_code != 200:
            return _page_answer(page.status_code, page.text)
        form = hidden_fields(page.text)
        post = {f"t{task}.{k}": _posted(v) for k, v in data.items()}
        response = client.post(
            f"/tasks/{task}/complete", data={**form, **post, "outcome": outcome, "note": comment}
        )
        return _page_answer(response.status_code, response.text)

    def claim(self, task: int, user: str) -> Answer:
        client = self._client(user)
        form = hidden_fields(client.get(f"/tasks/{task}").text)
        response = client.post(f"/tasks/{task}/claim", data=form)
        return _page_answer(response.status_code, response.text)

    def queue(self, user: str) -> str:
        page = self._client(user).get("/inbox")
        assert page.status_code == 200
        return page.text


def _posted(value: Any) -> str:
    if value is True:
        return "on"
    return str(value)


def _page_answer(status: int, html: str) -> Answer:
    if status in (302, 303):
        return Answer(False, "", "")
    kind = {403: "not_allowed", 404: "not_allowed", 422: "invalid"}.get(status, str(status))
    errors = re.findall(r'id="([^"]*)-error"[^>]*>(.*?)</p>', html, re.S)
    alerts = re.findall(r'role="alert"><p>(.*?)</p>', html, re.S)
    words = " ".join(f"{where}: {text}" for where, text in errors if text.strip())
    return Answer(True, kind, html_text.unescape(f"{words} {' '.join(alerts)}"))


class Api:
    """The REST API with each person's token."""

    name = "api"

    def __init__(self, app: Flask, tokens: dict[str, str]) -> None:
        self.client = app.test_client()
        self.tokens = tokens

    def _answer(self, response: Any) -> Answer:
        if response.status_code in (200, 201):
            return Answer(False, "", "")
        body = response.json or {}
        kind = {403: "not_allowed", 404: "not_allowed", 422: "invalid"}.get(
            response.status_code, str(response.status_code)
        )
        fields = " ".join(
            f"{e['field'].removeprefix('data.')}: {e['message']}" for e in body.get("errors", ())
        )
        return Answer(True, kind, f"{fields} {body.get('message', '')}")

    def start(self, workflow: str, data: dict[str, Any], user: str) -> Answer:
        response = self.client.post(
            "/api/v1/instances",
            json={"workflow": workflow, "data": data},
            headers={"Authorization": f"Bearer {self.tokens[user]}"},
        )
        return self._answer(response)

    def complete(
        self, task: int, outcome: str, data: dict[str, Any], user: str, comment: str = ""
    ) -> Answer:
        body: dict[str, Any] = {"outcome": outcome, "data": data}
        if comment:
            body["comment"] = comment
        response = self.client.post(
            f"/api/v1/tasks/{task}/complete",
            json=body,
            headers={"Authorization": f"Bearer {self.tokens[user]}"},
        )
        return self._answer(response)

    def claim(self, task: int, user: str) -> Answer:
        response = self.client.post(
            f"/api/v1/tasks/{task}/claim", headers={"Authorization": f"Bearer {self.tokens[user]}"}
        )
        return self._answer(response)

    def queue(self, user: str) -> str:
        response = self.client.get(
            "/api/v1/tasks?view=queue", headers={"Authorization": f"Bearer {self.tokens[user]}"}
        )
        assert response.status_code == 200
        return response.text


class Cli:
    """The `flowdesk` command line, as an operator's script would run it."""

    name = "cli"

    def __init__(self, database_url: str) -> None:
        self.runner = CliRunner()
        self.env = {"FLOWDESK_DATABASE_URL": database_url}

    def _run(self, *args: str) -> Answer:
        result = self.runner.invoke(main, list(args), env=self.env)
        if result.exit_code == 0:
            return Answer(False, "", "")
        # The command line says why it refused by its exit code: 3 is "not allowed".
        kind = {1: "invalid", 3: "not_allowed", 4: "not_allowed"}.get(result.exit_code, "")
        return Answer(True, kind or str(result.exit_code), result.output)

    def start(self, workflow: str, data: dict[str, Any], user: str) -> Answer:
        return self._run("start", workflow, "--data", json.dumps(data), "--as", user)

    def complete(
        self, task: int, outcome: str, data: dict[str, Any], user: str, comment: str = ""
    ) -> Answer:
        args = ["complete", str(task), "--outcome", outcome, "--data", json.dumps(data)]
        args += ["--as", user] + (["--comment", comment] if comment else [])
        return self._run(*args)

    def claim(self, task: int, user: str) -> Answer:
        return self._run("claim", str(task), "--as", user)

    def queue(self, user: str) -> str:
        result = self.runner.invoke(main, ["tasks", "--user", user], env=self.env)
        assert result.exit_code == 0, result.output
        return result.output


@pytest.fixture(params=["web", "api", "cli"])
def door(
    request: pytest.FixtureRequest, app: Flask, database: Database, database_url: str, world: None
) -> Door:
    if request.param == "web":
        return Web(app)
    if request.param == "cli":
        return Cli(database_url)
    now = datetime.now(UTC)
    with database.writer_session() as session, session.begin():
        tokens = {
            name: issue_token(session, name, "tests", now)[1]
            for name in ("alice", "maria", "carl", "bob", "ivy")
        }
    return Api(app, tokens)


# Starting: the data must fill in the start form, and name people who can act ---------------

START_CASES = {
    "a required field left out": ({"item": None}, "item", "Fill in this field"),
    "a number below its minimum": ({"cost": -5}, "cost", "0"),
    "a required checkbox left unticked": ({"terms": False}, "terms", ""),
    "a field the form does not have": ({"colour": "red"}, "colour", "not a field"),
    "a manager who does not exist": ({"manager": "ghost"}, "manager", "no active user 'ghost'"),
    "a manager who may no longer sign in": ({"manager": "gone"}, "manager", "no active user"),
    "a service the catalogue does not hold": (
        {"paid_by": "nope"},
        "paid_by",
        "There is no service 'nope' in the catalogue",
    ),
    "the requester as their own approver": (
        {"manager": "alice", "cost": 99999},
        "manager",
        "separation of duties",
    ),
}


@pytest.mark.parametrize("case", START_CASES)
def test_a_start_is_refused_alike_at_every_door_and_changes_nothing(
    door: Door, database: Database, case: str
) -> None:
    changes, field, words = START_CASES[case]
    if door.name == "web" and field == "colour":
        pytest.skip("a web form has no control for a field it does not have")
    data = {k: v for k, v in {**GOOD, **changes}.items() if v is not None}
    before = counts(database)

    answer = door.start("purchase", data, "alice")

    assert answer.refused
    assert answer.kind == "invalid"
    assert answer.says(field, words), answer.words
    assert counts(database) == before


def test_a_sound_start_goes_through_every_door(door: Door, database: Database) -> None:
    before = counts(database)
    assert not door.start("purchase", GOOD, "alice").refused
    assert counts(database)[0] == before[0] + 1


def test_a_start_naming_a_service_of_the_catalogue_is_that_services_request_at_every_door(
    door: Door, database: Database, commands: Commands
) -> None:
    """The start form's service field (`start.service`) files the request under its service,
    as an alert's service files an incident: insight and postmortems count it there."""
    Catalogue(commands).save_service(
        "payments", {"name": "Payments", "start_data": {}}, actor=None, create=True
    )

    answer = door.start("purchase", {**GOOD, "paid_by": "payments"}, "alice")

    assert not answer.refused, answer.words
    with database.reading() as session:
        kept = session.execute(select(Instance.service_key, Instance.state)).one()
    assert kept.service_key == "payments"
    assert kept.state["data"]["paid_by"] == "payments"


def test_an_incident_filed_under_a_service_pages_its_escalation_policy_at_every_door(
    door: Door, database: Database, commands: Commands
) -> None:
    """The shipped report names the service a whole team has lost: the service's escalation
    policy pages its level 1 at once, and the incident's task goes to the person paged, as
    for an alert or a mail to the service's mailbox (ADR 70). One that names no service
    pages nobody."""
    EscalationPolicies(commands).save(
        "payments-escalation", {"levels": [{"notify": [{"user": "ivy"}]}]}, actor=None
    )
    Catalogue(commands).save_service(
        "payments",
        {"name": "Payments", "start_data": {}, "policy_key": "payments-escalation"},
        actor=None,
        create=True,
    )
    high = {**INCIDENT, "impact": "high", "urgency": "high"}

    assert not door.start("it-incident", {**high, "summary": "None named"}, "alice").refused
    answer = door.start("it-incident", {**high, "affected_service": "payments"}, "alice")

    assert not answer.refused, answer.words
    with database.reading() as session:
        paged = session.execute(
            select(Instance.title, Notification.recipient)
            .join(Instance, Instance.number == Notification.number)
            .where(Notification.kind == "paged")
        ).all()
        holder = session.scalar(
            select(Task.assignee)
            .join(Instance, Instance.id == Task.instance_id)
            .where(Instance.service_key == "payments", Task.status == "open")
        )
    assert [tuple(row) for row in paged] == [(INCIDENT["summary"], "ivy")]
    assert holder == "ivy"


# Acting on tasks: who may, what they send, and why they reject -------------------------------


def approval_for_maria(commands: Commands) -> int:
    started = commands.start("purchase", GOOD, requester="alice")
    (task,) = started["opened_tasks"]
    assert task["assignee"] == "maria"
    return int(task["id"])


def delivery(commands: Commands) -> int:
    task = approval_for_maria(commands)
    done = commands.complete(task, "approved", {}, actor="maria")
    (opened,) = done["opened_tasks"]
    return int(opened["id"])


def test_a_task_answering_the_service_moves_the_request_and_an_unknown_one_is_refused(
    door: Door, database: Database, commands: Commands
) -> None:
    """The delivery's form has the start form's service field: a new answer files the
    request under that service; one the catalogue does not hold is refused."""
    Catalogue(commands).save_service(
        "mail", {"name": "Mail", "start_data": {}}, actor=None, create=True
    )
    task = delivery(commands)  # a request started without a service
    before = counts(database)

    wrong = door.complete(task, "done", {"supplier": "Acme", "paid_by": "nope"}, "bob")

    assert wrong.refused
    assert wrong.says("paid_by", "There is no service 'nope' in the catalogue"), wrong.words
    assert counts(database) == before
    assert not door.complete(task, "done", {"supplier": "Acme", "paid_by": "mail"}, "bob").refused
    with database.reading() as session:
        assert session.scalars(select(Instance.service_key)).all() == ["mail"]


def test_a_service_removed_since_the_request_named_it_stands_when_a_task_keeps_it(
    door: Door, database: Database, commands: Commands
) -> None:
    """Its incidents keep a removed service's key, and a task's form shows it as it was
    ("(not in the catalogue)"): sent back unchanged it stands; another unknown one does not."""
    catalogue = Catalogue(commands)
    catalogue.save_service("mail", {"name": "Mail", "start_data": {}}, actor=None, create=True)
    started = commands.start("purchase", {**GOOD, "paid_by": "mail"}, requester="alice")
    (approval,) = started["opened_tasks"]
    (opened,) = commands.complete(approval["id"], "approved", {}, actor="maria")["opened_tasks"]
    catalogue.delete_service("mail", actor=None)

    other = door.complete(opened["id"], "done", {"supplier": "Acme", "paid_by": "fax"}, "bob")
    assert other.says("paid_by", "There is no service 'fax' in the catalogue"), other.words
    kept = door.complete(opened["id"], "done", {"supplier": "Acme", "paid_by": "mail"}, "bob")
    assert not kept.refused, kept.words


def test_someone_who_does_not_hold_the_task_is_refused_at_every_door(
    door: Door, commands: Commands, database: Database
) -> None:
    task = approval_for_maria(commands)
    before = counts(database)

    answer = door.complete(task, "approved", {}, "bob")

    assert answer.refused
    assert answer.kind == "not_allowed"
    assert counts(database) == before


def test_a_rejection_without_a_reason_is_refused_at_every_door(
    door: Door, commands: Commands, database: Database
) -> None:
    task = approval_for_maria(commands)
    before = counts(database)

    answer = door.complete(task, "rejected", {}, "maria")

    assert answer.refused
    assert answer.kind == "invalid"
    assert answer.says("", "Say why you reject"), answer.words
    if door.name == "cli":  # said once, not as the message, its field and its pointer
        assert answer.words.count("Say why you reject") == 1, answer.words
    assert counts(database) == before
    assert not door.complete(task, "rejected", {}, "maria", comment="Too dear").refused


def test_the_requester_in_the_approvers_group_may_not_approve_their_own_request(
    door: Door, commands: Commands, database: Database
) -> None:
    started = commands.start("team-purchase", GOOD, requester="alice")
    (task,) = started["opened_tasks"]
    assert task["group"] == "approvers"
    before = counts(database)

    answer = door.complete(int(task["id"]), "approved", {}, "alice")

    assert answer.refused
    assert answer.kind == "not_allowed"
    if door.name != "web":  # the page says only "you may not" (403); the others say why
        assert answer.says("", "separation of duties"), answer.words
    assert counts(database) == before
    assert not door.complete(int(task["id"]), "approved", {}, "maria").refused


def test_a_round_robin_passes_over_the_requester_at_every_door(
    door: Door, database: Database
) -> None:
    # alice and maria approve in turn; alice's own request goes to maria every time.
    for _ in range(2):
        assert not door.start("turns-purchase", GOOD, "alice").refused
        with database.reading() as session:
            newest = session.scalars(select(Task).order_by(Task.id.desc())).first()
        assert newest is not None
        assert (newest.assignee, newest.candidate_group) == ("maria", "approvers")


def test_the_requester_may_not_claim_their_own_request_from_the_queue_at_any_door(
    door: Door, commands: Commands, database: Database
) -> None:
    started = commands.start("team-purchase", GOOD, requester="alice")
    (task,) = started["opened_tasks"]
    before = counts(database)

    answer = door.claim(int(task["id"]), "alice")

    assert answer.refused
    assert answer.kind == "not_allowed"
    if door.name != "web":
        assert answer.says("", "separation of duties"), answer.words
    assert counts(database) == before
    assert not door.claim(int(task["id"]), "maria").refused


def test_no_door_lists_a_task_in_the_queue_of_someone_separation_of_duties_keeps_from_it(
    door: Door, commands: Commands, database: Database
) -> None:
    """alice is one of the approvers and asked for this: her queue does not offer her the
    approval (taking it was refused), nor does a mail or the bell tell her of it."""
    number = commands.start("team-purchase", GOOD, requester="alice")["number"]
    other = commands.start("team-purchase", GOOD, requester="maria")["number"]

    assert number not in door.queue("alice")
    assert other in door.queue("alice")
    assert number in door.queue("maria")
    assert other not in door.queue("maria")
    if door.name == "api":  # and the count of the queue's pages
        assert json.loads(door.queue("alice"))["total"] == 1
    with database.reading() as session:
        told = session.execute(
            select(Notification.recipient, Instance.number)
            .join(Instance, Instance.id == Notification.instance_id)
            .where(Notification.kind == "queue")
            .order_by(Notification.recipient)
        ).all()
    assert [tuple(row) for row in told] == [("alice", other), ("maria", number)]


def test_no_door_lists_a_task_to_whoever_just_did_a_parallel_step_it_keeps_apart(
    door: Door, commands: Commands
) -> None:
    """The approval opened beside the check, before anyone had checked: once alice checks,
    her queue leaves the approval out, as it would had it opened after her check (taking it
    was refused, and it stayed in her queue)."""
    started = commands.start("checked-purchase", GOOD, requester="carl")
    number = started["number"]
    (check,) = [t for t in started["opened_tasks"] if t["step"] == "check"]
    assert number in door.queue("alice")

    commands.claim(check["id"], actor="alice")
    commands.complete(check["id"], "done", {}, actor="alice")

    assert number not in door.queue("alice")
    assert number in door.queue("maria")


#: A review with a vote from each of two groups: alice is in both.
TWO_GROUP_REVIEW: dict[str, Any] = {
    "kind": "workflow", "format": 1, "key": "two-group-review", "title": "Two-group review",
    "start": {"number_prefix": "TGR"},
    "first": "review",
    "steps": {
        "review": {
            "type": "review", "label": "Review",
            "reviewers": [{"role": "approver", "assign": {"group": "approvers"}},
                          {"role": "auditor", "assign": {"group": "auditors"}}],
            "quorum": "all",
            "on": {"approved": "done", "rejected": "done"},
        },
        "done": {"type": "end"},
    },
}  # fmt: skip


def test_no_door_lists_the_second_vote_of_a_review_to_whoever_cast_the_first(
    door: Door, commands: Commands, database: Database
) -> None:
    """alice is in both groups a review asks a vote of: once she votes on one, her queue
    leaves the other out (taking it was refused: one person votes once), and it stays in
    the queue of the rest of its group."""
    now = datetime.now(UTC)
    with database.writer_session() as session, session.begin():
        ensure_user(session, "alice", now, groups=["auditors"])
        ensure_user(session, "ivy", now, groups=["auditors"])
        document = Document(Path("two-group-review.json"), TWO_GROUP_REVIEW)
        publish_all(session, [document], now, "test")
    started = commands.start("two-group-review", {}, requester="carl")
    number = started["number"]
    first, second = (task["id"] for task in started["opened_tasks"])
    assert number in door.queue("alice")

    commands.claim(first, actor="alice")
    commands.complete(first, "approved", {}, actor="alice")

    assert number not in door.queue("alice")
    assert number in door.queue("ivy")
    with pytest.raises(NotAllowed, match="one person votes once"):
        commands.claim(second, actor="alice")


def test_the_task_page_names_the_step_that_keeps_someone_from_a_task(
    app: Flask, commands: Commands, world: None
) -> None:
    """alice checked the quote; the approval's page says so, not that she requested it."""
    started = commands.start("checked-purchase", GOOD, requester="carl")
    tasks = {t["step"]: t["id"] for t in started["opened_tasks"]}
    commands.claim(tasks["check"], actor="alice")
    commands.complete(tasks["check"], "done", {}, actor="alice")

    page = html_text.unescape(Web(app)._client("alice").get(f"/tasks/{tasks['approve']}").text)

    number = started["number"]
    assert (
        f"You did 'Check the quote' on {number}, so you may not approve it "
        "(separation of duties)." in page
    )
    assert "You requested" not in page
    assert "Take it" not in page


def test_the_task_page_tells_the_requester_why_they_may_not_take_their_own_approval(
    app: Flask, commands: Commands, world: None
) -> None:
    started = commands.start("team-purchase", GOOD, requester="alice")
    (task,) = started["opened_tasks"]

    page = Web(app)._client("alice").get(f"/tasks/{task['id']}").text

    assert (
        f"You requested {started['number']}, so you may not approve it (separation of duties)."
        in html_text.unescape(page)
    )
    assert "Take it" not in page
    assert "Take it" in Web(app)._client("maria").get(f"/tasks/{task['id']}").text


def test_a_field_the_step_keeps_read_only_cannot_be_written_at_any_door(
    door: Door, commands: Commands, database: Database
) -> None:
    if door.name == "web":
        pytest.skip("the task page offers no control for it: see the page test")
    task = delivery(commands)
    before = counts(database)

    answer = door.complete(task, "done", {"supplier": "Acme", "cost": 1}, "bob")

    assert answer.refused
    assert answer.says("cost", "cannot be changed at this step"), answer.words
    assert counts(database) == before


def test_a_field_the_step_makes_required_is_required_at_every_door(
    door: Door, commands: Commands, database: Database
) -> None:
    task = delivery(commands)
    before = counts(database)

    answer = door.complete(task, "done", {}, "bob")

    assert answer.refused
    assert answer.says("supplier", "Fill in this field"), answer.words
    assert counts(database) == before
    assert not door.complete(task, "done", {"supplier": "Acme"}, "bob").refused


def test_the_author_of_a_plan_may_not_review_it_at_any_door(
    door: Door, commands: Commands, database: Database
) -> None:
    started = commands.start("major-incident", MAJOR, requester="carl")
    (plan,) = started["opened_tasks"]
    commands.claim(plan["id"], actor="ivy")
    planned = commands.complete(
        plan["id"],
        "done",
        {"plan": "Fail over", "rollback": "Fail back", "eta_minutes": 20},
        actor="ivy",
    )
    (ivys,) = [t for t in planned["opened_tasks"] if t["group"] == "incident-commanders"]
    before = counts(database)

    answer = door.complete(int(ivys["id"]), "approved", {}, "ivy")

    assert answer.refused
    assert answer.kind == "not_allowed"
    if door.name != "web":
        assert answer.says("", "separation of duties"), answer.words
    assert counts(database) == before


def test_the_task_page_offers_no_control_for_a_read_only_field_and_shows_its_value(
    app: Flask, commands: Commands, world: None
) -> None:
    task = delivery(commands)
    client = Web(app)._client("bob")

    page = client.get(f"/tasks/{task}").text

    assert f'name="t{task}.supplier"' in page
    assert f'name="t{task}.cost"' not in page
    assert "250" in page  # shown among the values, read-only
