"""Definitions and instances go out as JSON Lines and come back in, once, or not at all."""

from __future__ import annotations

import io
from datetime import date, timedelta

import orjson
import pytest
from sqlalchemy import func, select, text

from engine.service.commands import Commands
from engine.service.definitions import publish_document
from engine.service.errors import InvalidInput
from engine.service.exports import Imported, export_lines, import_lines
from engine.service.filters import Query
from engine.service.finder import Finder
from engine.service.people import ensure_user
from engine.service.postmortems import Postmortems
from engine.store.database import Database
from engine.store.definitions import Definition, DefinitionVersion
from engine.store.instances import Instance
from engine.store.postmortems import PostmortemRevision
from tests.integration.conftest import INCIDENT, MAJOR, Clock
from tests.integration.test_backup import count_instances, empty_url, open_task
from tests.integration.test_postmortems import resolved
from tests.integration.test_retention import finished_incident

__all__ = ["empty_url", "resolved"]  # fixtures, shared with the backup and postmortem tests


def exported(commands: Commands, **filters: object) -> bytes:
    return b"".join(export_lines(commands, **filters))  # type: ignore[arg-type]


def test_an_import_into_an_empty_database_carries_on_and_a_second_changes_nothing(
    commands: Commands, database: Database, empty_url: str, clock: Clock
) -> None:
    closed = finished_incident(commands, database)
    running = str(commands.start("it-incident", INCIDENT, requester="alice")["number"])
    commands.comment(running, "Toner everywhere", actor="bob")
    lines = exported(commands).splitlines(keepends=True)
    header = orjson.loads(lines[0])
    assert (header["format"], header["version"]) == ("flowdesk-export", 2)

    target = migrated(empty_url)
    try:
        other = Commands(target, clock=clock)
        first = import_lines(other, lines, by="ops")
        assert first.instances == 2
        assert first.definitions > 0
        assert import_lines(other, lines, by="ops") == Imported(0, 0, 2)
        assert count_instances(target) == 2
        with target.reading() as session:
            assert session.scalar(select(Instance.status).where(Instance.number == closed)) == (
                "closed"
            )
        # People are this installation's own: the running incident waits on dan.
        with target.writer_session() as session, session.begin():
            ensure_user(session, "dan", clock(), groups=["desktop-support"])
            ensure_user(session, "alice", clock())
        finder = Finder(other)
        found = finder.find(finder.person("dan"), Query(text="toner"))
        assert [row.number for row in found.items] == [running]  # indexed as it came in
        work = open_task(target, running)
        other.complete(work.id, "resolved", {"resolution": "New drum"}, actor="dan")
        assert open_task(target, running).step == "confirm"
        assert other.start("it-incident", INCIDENT, requester="alice")["number"] == "INC-000003"
    finally:
        target.dispose()


def test_a_postmortem_travels_with_its_incident_revisions_and_action_items(
    commands: Commands, database: Database, empty_url: str, clock: Clock, resolved: str
) -> None:
    postmortems = Postmortems(commands)
    postmortems.draft(resolved, actor="bob")
    clock.advance(minutes=5)
    saved = postmortems.save(resolved, "# Postmortem\n\nThe disk filled up.", 1, actor="ivy")
    alarm = "Alert at 80%"
    postmortems.add_action(resolved, alarm, due=date(2026, 12, 4), actor="ivy", owner="sam")
    lines = exported(commands).splitlines(keepends=True)

    target = migrated(empty_url)
    try:
        other = Commands(target, clock=clock)
        import_lines(other, lines, by="ops")
        with target.writer_session() as session, session.begin():
            ensure_user(session, "bob", clock(), roles=["agent"])  # people are this one's own
        found = Postmortems(other).postmortem(resolved, actor="bob")
        assert found is not None
        assert (found.body, found.revision) == (saved.body, 2)
        assert [(r.revision, r.saved_by) for r in found.revisions] == [(2, "ivy"), (1, "bob")]
        assert [(item.number, item.state) for item in found.actions] == [
            ("ACT-000001", "open, with sam")
        ]
        assert import_lines(other, lines, by="ops").instances == 0  # once, not twice
        assert count_rows(target, PostmortemRevision) == 2
    finally:
        target.dispose()


def test_a_version_1_export_without_postmortems_still_imports(
    commands: Commands, database: Database, empty_url: str
) -> None:
    finished_incident(commands, database)
    lines = exported(commands).splitlines(keepends=True)
    lines[0] = lines[0].replace(b'"version":2', b'"version":1')
    target = migrated(empty_url)
    try:
        assert import_lines(Commands(target), lines, by="ops").instances == 1
        lines[0] = lines[0].replace(b'"version":1', b'"version":3')
        with pytest.raises(InvalidInput) as refused:
            import_lines(Commands(target), lines, by="ops")
        said = "/line/1/version: format version 3 is not one this Flowdesk reads (1, 2)"
        assert [str(problem) for problem in refused.value.problems] == [said]
    finally:
        target.dispose()


def count_rows(database: Database, model: type) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_exporting_one_workflow_since_a_date(
    commands: Commands, database: Database, clock: Clock
) -> None:
    finished_incident(commands, database)
    clock.advance(days=3)
    later = str(commands.start("it-incident", INCIDENT, requester="alice")["number"])
    commands.start("major-incident", MAJOR, requester="ivy")
    since = clock() - timedelta(hours=1)
    lines = exported(commands, workflow="it-incident", since=since).splitlines()
    numbers = [orjson.loads(line)["number"] for line in lines if b'"type":"instance"' in line]
    assert numbers == [later]


def test_a_bad_line_is_refused_with_its_number_and_nothing_is_imported(
    commands: Commands, database: Database
) -> None:
    finished_incident(commands, database)
    lines = exported(commands).splitlines(keepends=True)
    instance = orjson.loads(lines[-1])
    instance["instance"]["colour"] = "red"
    instance["number"] = instance["instance"]["number"] = "INC-000077"
    tampered = orjson.loads(lines[1])
    tampered["content"]["title"] = "Changed on the way"
    bad = [lines[0], orjson.dumps(tampered) + b"\n", b"{not json\n", orjson.dumps(instance) + b"\n"]
    with database.reading() as session:
        versions = session.scalar(select(func.count()).select_from(DefinitionVersion))

    with pytest.raises(InvalidInput) as refused:
        import_lines(commands, io.BytesIO(b"".join(bad)), by="ops")
    assert str(refused.value) == "nothing was imported: the file has 3 problems"
    said = [str(problem) for problem in refused.value.problems]
    assert said[0].startswith("/line/2/content_hash: does not match")
    assert said[1].startswith("/line/3: is not JSON")
    assert said[2] == "/line/4/instance/colour: is no column of instances"
    assert count_instances(database) == 1
    with database.reading() as session:
        assert session.scalar(select(func.count()).select_from(DefinitionVersion)) == versions


def test_an_instance_whose_state_the_runtime_cannot_read_is_refused_at_its_line(
    commands: Commands, database: Database
) -> None:
    """A state the runtime cannot read (or a status its state does not say) went in, and
    every later command on it failed, its timers at every sweep: refused at the line now."""
    finished_incident(commands, database)
    lines = exported(commands).splitlines(keepends=True)
    broken, wrong = orjson.loads(lines[-1]), orjson.loads(lines[-1])
    broken["number"] = broken["instance"]["number"] = "INC-000077"
    broken["instance"]["state"] = {"bogus": 1}
    wrong["number"] = wrong["instance"]["number"] = "INC-000078"
    wrong["instance"]["status"] = "exploded"
    body = b"".join([lines[0], orjson.dumps(broken) + b"\n", orjson.dumps(wrong) + b"\n"])
    with pytest.raises(InvalidInput) as refused:
        import_lines(commands, io.BytesIO(body), by="ops")
    said = [str(problem) for problem in refused.value.problems]
    assert said[0].startswith("/line/2/instance/state: is no instance state Flowdesk can read")
    assert said[1] == "/line/3/instance/status: is 'exploded', but its state says 'closed'"
    assert count_instances(database) == 1


def test_a_file_without_the_header_is_refused(commands: Commands) -> None:
    for lines, said in (
        ([b'{"type": "definition"}\n'], "/line/1/format: the first line must be the header"),
        ([], "/line/1: the file is empty"),
    ):
        with pytest.raises(InvalidInput) as refused:
            import_lines(commands, lines, by="ops")
        assert str(refused.value.problems[0]).startswith(said)


def test_an_import_never_changes_which_version_of_a_workflow_here_new_instances_run_on(
    commands: Commands, database: Database, empty_url: str, clock: Clock
) -> None:
    finished_incident(commands, database)
    lines = exported(commands).splitlines(keepends=True)
    target = migrated(empty_url)
    try:
        other = Commands(target, clock=clock)
        # This installation has its own it-incident: the file's, which its incident runs
        # on, would become the latest.
        own = next(orjson.loads(line) for line in lines if b'"key":"it-incident"' in line)
        with target.writer_session() as session, session.begin():
            changed = {**own["content"], "title": "Our own incident flow"}
            publish_document(session, "workflow", changed, clock(), "ops")
        with pytest.raises(InvalidInput, match="the workflow it-incident exists here"):
            import_lines(other, lines, by="ops")
        assert count_instances(target) == 0
        # Without the instance, the file's version is skipped and ours stays the latest.
        only_definitions = [line for line in lines if b'"type":"instance"' not in line]
        done = import_lines(other, only_definitions, by="ops")
        assert done.skipped == 1
        with target.reading() as session:
            latest = session.scalar(
                select(Definition.latest_version).where(
                    Definition.kind == "workflow", Definition.key == "it-incident"
                )
            )
        assert latest == 1
    finally:
        target.dispose()


def migrated(url: str) -> Database:
    """Open an empty database and give it the schema (PostgreSQL: its own schema first)."""
    target = Database(url)
    if not target.is_sqlite:
        schema = url.rsplit("search_path%3D", 1)[1]
        with target.engine.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
    target.migrate()
    return target
