"""A connection lost during COMMIT may have saved the command: only what can tell is tried again.

The fault is injected at the edge, in the dialect's COMMIT: the COMMIT reaches the
database, then the connection goes before its answer comes back, and the driver says
the connection is closed, as it would after a failover or a server restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.service.commands import Commands
from engine.service.errors import Unavailable
from engine.service.subflows import Subflows
from engine.store.database import Database
from engine.store.instances import Comment, Instance, Outbox
from engine.store.uow import UnitOfWork
from tests.integration.conftest import INCIDENT, Clock
from tests.integration.test_subflows import parent, publish


class Faults:
    """Breaks the writer's connection at the next COMMIT, after or before it is sent."""

    def __init__(self, database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
        self.database = database
        self.armed: str | None = None
        dialect = database.writer.dialect
        do_commit = dialect.do_commit

        def commit(connection: Any) -> None:
            raw = getattr(connection, "dbapi_connection", connection)
            armed, self.armed = self.armed, None
            if armed == "after":
                do_commit(connection)  # the database has it...
            if armed is not None:
                raw.close()  # ...and the answer is lost with the connection
                raw.commit()  # the driver's own error for a connection that is gone
            do_commit(connection)

        monkeypatch.setattr(dialect, "do_commit", commit)

    def break_next_commit(self, when: str = "after") -> None:
        self.armed = when


@pytest.fixture
def faults(database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Faults]:
    found = Faults(database, monkeypatch)
    yield found
    found.armed = None


def comments(database: Database) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count()).select_from(Comment)) or 0)


@pytest.fixture
def number(commands: Commands) -> str:
    return str(commands.start("it-incident", INCIDENT, requester="alice")["number"])


def test_a_command_whose_commit_lost_the_connection_is_not_done_twice(
    commands: Commands, database: Database, faults: Faults, number: str
) -> None:
    faults.break_next_commit()

    with pytest.raises(Unavailable) as raised:
        commands.comment(number, "saved, but nobody heard", actor="bob")

    assert raised.value.message == (
        "the comment may or may not have been saved: the connection to the database was lost "
        "while saving; check before trying again"
    )
    assert comments(database) == 1  # saved once, and not a second time by a retry
    commands.comment(number, "the next command gets a fresh connection", actor="bob")
    assert comments(database) == 2


def test_a_keyed_command_whose_commit_lost_the_connection_is_tried_again_and_answers(
    commands: Commands, database: Database, faults: Faults, number: str
) -> None:
    faults.break_next_commit()

    answer = commands.comment(number, "saved once", actor="bob", key="comment-1")

    assert answer == commands.comment(number, "saved once", actor="bob", key="comment-1")
    assert comments(database) == 1


def test_a_keyed_command_whose_commit_never_arrived_is_tried_again_and_saved(
    commands: Commands, database: Database, faults: Faults, number: str
) -> None:
    # The same lost connection, before the COMMIT left: nothing tells the two apart,
    # and the retry a key makes safe saves it.
    faults.break_next_commit("before")

    commands.comment(number, "saved on the second try", actor="bob", key="comment-1")

    assert comments(database) == 1


def test_a_connection_lost_before_the_commit_is_still_tried_again(
    commands: Commands, database: Database, number: str
) -> None:
    # The COMMIT was never sent: a retry on a fresh connection cannot do it twice.
    tries = []

    def body(uow: UnitOfWork, at: datetime) -> dict[str, Any]:
        tries.append(at)
        if len(tries) == 1:  # the server goes, and its transaction with it
            raw = uow.connection.connection.dbapi_connection
            assert raw is not None
            raw.rollback()
            raw.close()
        instance = commands.locked_instance(uow.repository, number)
        values = {"instance_id": instance.id, "author": "bob", "public": True, "created_at": at}
        return {"comment": uow.repository.add_comment({**values, "body": "saved once"})}

    commands.execute("comment", None, body)

    assert len(tries) == 2
    assert comments(database) == 1


def test_a_subflow_whose_commit_lost_the_connection_is_tried_again_and_starts_one_child(
    commands: Commands, database: Database, clock: Clock, faults: Faults
) -> None:
    # A row of the outbox is done in the transaction that does it, so a second run of a
    # committed one finds nothing to do.
    subflows = Subflows(commands)
    publish(database, clock, parent())
    commands.start("outage", {"summary": "mail is down"})
    [row] = subflows.pending()
    faults.break_next_commit()

    assert subflows.carry_out(row) is False  # the retry found it done

    with database.reading() as session:
        children = session.scalars(select(Instance.number).where(Instance.parent_id.is_not(None)))
        assert list(children) == ["PRB-000001"]
        assert session.get(Outbox, row).status == "sent"  # type: ignore[union-attr]
