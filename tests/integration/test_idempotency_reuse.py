"""An idempotency key sent again with a different request is refused, not answered as the first.

A key names one request: its kind, its target and its values. A repeat of that request
gets the first answer and changes nothing; the key with anything else (another task,
another instance, other values) used to get the first answer too, with nothing done and
nobody told. Now it is refused, as Stripe's API does.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from engine.service.commands import Commands
from engine.service.errors import KeyReused
from engine.store.database import Database
from engine.store.instances import Command as KeptCommand
from engine.store.instances import Comment, Instance, Task
from tests.integration.conftest import INCIDENT
from tests.integration.test_idempotency import open_task_id, snapshot
from tests.web.test_inbox import open_task
from web.cli import main

REFUSED = (
    "this idempotency key was already used for a different request (another {kind}); "
    "nothing was changed: a new request needs a new key"
)


def incident(commands: Commands, **changes: Any) -> str:
    return str(commands.start("it-incident", {**INCIDENT, **changes}, requester="alice")["number"])


def texts(database: Database) -> list[str]:
    with database.reading() as session:
        return list(session.scalars(select(Comment.body).order_by(Comment.id)))


def test_a_key_reused_on_another_task_is_refused_and_that_task_stays_open(
    commands: Commands, database: Database
) -> None:
    first, second = (open_task_id(database, incident(commands)) for _ in "ab")
    done = {"resolution": "one"}
    commands.complete(first, "resolved", done, actor="bob", key="k1")
    before = snapshot(database)

    with pytest.raises(KeyReused) as refused:
        commands.complete(second, "resolved", {"resolution": "two"}, actor="bob", key="k1")

    assert refused.value.message == REFUSED.format(kind="complete")
    assert snapshot(database) == before  # the second task is still open
    # The first request, repeated, still gets its first answer.
    assert commands.complete(first, "resolved", done, actor="bob", key="k1")["status"] == "resolved"


@pytest.mark.parametrize(
    ("number", "text", "actor", "public"),
    [
        ("INC-000002", "the printer blinks", "bob", True),  # another instance
        ("INC-000001", "the printer beeps", "bob", True),  # other words
        ("INC-000001", "the printer blinks", "dan", True),  # someone else
        ("INC-000001", "the printer blinks", "bob", False),  # an internal note
    ],
)
def test_a_key_reused_for_a_comment_with_anything_else_is_refused(
    commands: Commands, database: Database, number: str, text: str, actor: str, public: bool
) -> None:
    incident(commands)
    incident(commands)
    commands.comment("INC-000001", "the printer blinks", actor="bob", key="k2")

    with pytest.raises(KeyReused, match="another comment"):
        commands.comment(number, text, actor=actor, public=public, key="k2")

    assert texts(database) == ["the printer blinks"]


def test_the_same_request_is_the_same_whatever_the_order_of_its_values(
    commands: Commands, database: Database
) -> None:
    data = {"summary": "Printer jammed", "impact": "medium", "urgency": "high"}
    first = commands.start("it-incident", {**INCIDENT, **data}, requester="alice", key="s1")
    backwards = dict(reversed(list({**INCIDENT, **data}.items())))

    assert commands.start("it-incident", backwards, requester="alice", key="s1") == first
    with pytest.raises(KeyReused, match="another start"):
        commands.start("it-incident", {**INCIDENT, "urgency": "low"}, requester="alice", key="s1")


def test_a_key_kept_before_requests_were_fingerprinted_is_taken_on_its_kind(
    commands: Commands, database: Database
) -> None:
    # Keys kept before migration 0012 have no fingerprint: nothing tells their request.
    number = incident(commands)
    first = commands.comment(number, "kept long ago", actor="bob", key="old")
    with database.writer_session() as session, session.begin():
        session.execute(update(KeptCommand).values(fingerprint=None))

    assert commands.comment(number, "something else", actor="bob", key="old") == first
    assert texts(database) == ["kept long ago"]


def test_the_command_line_refuses_a_key_reused_for_another_task(
    commands: Commands, database_url: str, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", database_url)
    runner = CliRunner()
    first, second = (open_task(database, incident(commands)) for _ in "ab")
    resolved = ["--outcome", "resolved", "--as", str(first.assignee), "--key", "k1"]
    resolved += ["--data", '{"resolution": "Cleared the jam"}']

    def complete(task: Task) -> Any:
        return runner.invoke(main, ["complete", str(task.id), *resolved])

    done = complete(first)
    assert done.exit_code == 0, done.output

    refused = complete(second)

    assert refused.exit_code == 1
    assert REFUSED.format(kind="complete") in refused.output
    assert open_task(database, "INC-000002").id == second.id  # still open
    assert complete(first).exit_code == 0  # the first request again: answered


def test_the_command_lines_key_is_each_persons_own(
    commands: Commands, database_url: str, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the API keeps an Idempotency-Key per caller: two people's scripts may each send
    `--key 1`, and each gets their own request done, and their own answer again."""
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", database_url)
    runner = CliRunner()

    def start(person: str) -> Any:
        data = json.dumps({**INCIDENT, "name": person})
        return runner.invoke(main, ["start", "it-incident", "--as", person, "--data", data,
                                    "--key", "1"])  # fmt: skip

    first, second, again = start("alice"), start("bob"), start("alice")

    assert [r.exit_code for r in (first, second, again)] == [0, 0, 0], second.output
    assert [first.output, second.output, again.output] == [
        "INC-000001\n", "INC-000002\n", "INC-000001\n"
    ]  # fmt: skip
    with database.reading() as session:
        assert session.scalar(select(func.count()).select_from(Instance)) == 2
