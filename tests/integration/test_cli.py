"""The headless command line carries an incident from report to closure, as the README shows."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from engine.store.database import Database
from engine.store.definitions import Definition
from engine.store.instances import TrackingLink
from tests.integration.conftest import INCIDENT, PACK
from web.cli import main


@pytest.fixture
def flowdesk(database_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", database_url)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(main, list(args))
        assert result.exit_code == code, result.output
        return result.output

    return run


def test_an_incident_from_report_to_closure_from_the_shell(flowdesk) -> None:  # type: ignore[no-untyped-def]
    loaded = flowdesk("load", str(PACK))
    assert "workflow it-incident v1 published" in loaded
    again = flowdesk("load", str(PACK))
    assert "published" not in again
    assert "workflow it-incident v1 unchanged" in again
    flowdesk("user", "bob", "--name", "Bob", "--group", "desktop-support")
    flowdesk("user", "alice", "--role", "requester")

    number = flowdesk("start", "it-incident", "--as", "alice", "--data", json.dumps(INCIDENT))
    assert number.strip() == "INC-000001"
    queue = flowdesk("tasks", "--user", "bob")
    work = re.search(r"^\s*(\d+)\s+INC-000001\s+INC-000001 P2: .*\[bob\]", queue, re.M)
    assert work, queue

    refused = flowdesk("complete", work[1], "--outcome", "resolved", "--as", "alice", code=3)
    assert f"task {work[1]} is assigned to bob, not alice" in refused
    resolved = flowdesk(
        "complete",
        work[1],
        "--outcome",
        "resolved",
        "--as",
        "bob",
        "--data",
        '{"resolution": "Cleared the jam"}',
    )
    assert resolved.startswith("INC-000001: resolved")

    confirm = re.search(
        r"^\s*(\d+)\s+INC-000001\s+Is your problem solved",
        flowdesk("tasks", "--user", "alice"),
        re.M,
    )
    assert confirm
    assert flowdesk("complete", confirm[1], "--outcome", "approved", "--as", "alice").startswith(
        "INC-000001: closed"
    )

    shown = flowdesk("show", "INC-000001")
    assert "status: closed" in shown
    assert "open tasks: none" in shown
    # Steps by their labels and outcomes as chosen, in the instance page's words.
    assert "Went on to Work on the incident (Known fix?): otherwise: no condition matched" in shown
    assert "impact=medium, urgency=high -> P2 (row 3)" in shown
    assert "(alice) Went on to Closed (Reporter confirms the fix): 'approved' chosen" in shown
    assert "(bob) Task completed: resolved (Work on the incident)" in shown
    assert "[work]" not in shown


def test_a_public_request_started_for_nobody_prints_its_tracking_link(  # type: ignore[no-untyped-def]
    flowdesk, database: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without --as the request was made with no link: nobody could ever answer its questions
    or confirm its fix. Now it has one, printed (and mailed where the app's address is known),
    and the same again for a command repeated with its key."""
    monkeypatch.setenv("FLOWDESK_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("FLOWDESK_BASE_URL", "https://desk.example")
    flowdesk("load", str(PACK))
    data = json.dumps(INCIDENT)
    said = flowdesk("start", "it-incident", "--data", data, "--key", "k1").splitlines()
    assert said[0] == "INC-000001"
    assert re.fullmatch(r"tracking link: https://desk\.example/track/[\w-]{40,}", said[1]), said
    again = flowdesk("start", "it-incident", "--data", data, "--key", "k1").splitlines()
    assert again == said
    with database.reading() as session:
        assert session.scalar(select(func.count()).select_from(TrackingLink)) == 1


def test_bad_input_gets_a_clear_message(flowdesk) -> None:  # type: ignore[no-untyped-def]
    flowdesk("load", str(PACK))
    assert "is not JSON" in flowdesk("start", "it-incident", "--data", "{oops", code=2)
    # The exit code says why: 1 bad input, 3 not allowed, 4 not found (see the README).
    assert "there is no published workflow 'nope'" in flowdesk("start", "nope", code=4)
    assert "there is no instance INC-000404" in flowdesk("show", "INC-000404", code=4)
    assert "there is no task 404" in flowdesk(
        "complete", "404", "--outcome", "resolved", "--as", "bob", code=4
    )
    refused = flowdesk("start", "it-incident", "--data", '{"summary": ""}', code=1)
    assert "  /summary: Fill in this field" in refused  # one line per problem, at its field
    assert "is not JSON" in flowdesk(
        "start", "it-incident", "--data", '{"a": 1, "a": 2}', code=2
    )  # a key given twice is refused, not silently the last
    for number in ("NaN", "1e9999", "-Infinity"):
        assert "is not JSON" in flowdesk(
            "start", "it-incident", "--data", f'{{"summary": "x", "cost": {number}}}', code=2
        )
    huge = '{"summary": "x", "cost": ' + "9" * 5000 + "}"
    assert "is too long" in flowdesk("start", "it-incident", "--data", huge, code=2)
    deep = '{"summary": ' + "[" * 10_000 + "]" * 10_000 + "}"
    assert "nested more than" in flowdesk("start", "it-incident", "--data", deep, code=2)
    nul = flowdesk("start", "it-incident", "--data", '{"summary": "a\\u0000b"}', code=1)
    # Said once, at its place (it was said in the first line and again below it).
    said = "Error: the data cannot be kept: /summary: this text holds a NUL character; remove it"
    assert nul == said + "\n"
    assert "INC-" not in flowdesk("tasks")  # nothing of it was stored


def test_loading_the_pack_again_after_a_newer_version_keeps_the_newer_one_latest(
    flowdesk: Callable[..., str], tmp_path: Path, database: Database
) -> None:
    assert "workflow it-incident v1 published" in flowdesk("load", str(PACK))
    revised = tmp_path / "revised"
    shutil.copytree(PACK, revised)
    flow = json.loads((revised / "it-incident.json").read_text())
    (revised / "it-incident.json").write_text(json.dumps({**flow, "title": "IT incident v2"}))
    assert "workflow it-incident v2 published" in flowdesk("load", str(revised))
    again = flowdesk("load", str(PACK))  # the shipped file is version 1, not the latest
    assert "workflow it-incident v1 unchanged (identical to v1; the latest stays v2)" in again
    assert "published" not in again.replace("unchanged", "")
    with database.reading() as session:
        latest = session.scalar(
            select(Definition.latest_version).where(
                Definition.kind == "workflow", Definition.key == "it-incident"
            )
        )
    assert latest == 2


def test_a_broken_workflow_is_refused_by_flowdesk_load_with_where_and_why(
    flowdesk: Callable[..., str], tmp_path: Path
) -> None:
    pack = tmp_path / "pack"
    shutil.copytree(PACK, pack)
    flow = json.loads((pack / "it-incident.json").read_text())
    flow["steps"]["categorize"]["next"] = "nowhere"
    (pack / "it-incident.json").write_text(json.dumps(flow))
    refused = flowdesk("load", str(pack), code=1)
    assert "nothing was published; fix these first" in refused
    assert "it-incident.json:/steps/categorize/next: there is no step 'nowhere'" in refused
    assert "there is no published workflow 'it-incident'" in flowdesk(
        "start", "it-incident", code=4
    )


def test_load_says_which_groups_it_made_so_a_mistyped_one_is_seen(
    flowdesk: Callable[..., str], tmp_path: Path
) -> None:
    flowdesk("user", "fay", "--group", "finance")
    pack = tmp_path / "pack"
    pack.mkdir()
    flow = {
        "kind": "workflow", "format": 1, "key": "expense", "title": "Expense",
        "first": "pay",
        "steps": {"pay": {"type": "task", "assign": {"group": "financ"}, "next": "done"},
                  "done": {"type": "end"}},
    }  # fmt: skip
    (pack / "expense.json").write_text(json.dumps(flow))
    loaded = flowdesk("load", str(pack))
    assert "group financ made, empty: put people in it" in loaded
    assert "workflow expense v1 published" in loaded
    assert "group" not in flowdesk("load", str(pack))  # made once


@pytest.mark.parametrize(
    ("url", "code", "said"),
    [
        ("postgresql+psycopg://postgres@127.0.0.1:9/flowdesk", 6, "the database is not answering"),
        ("notaurl", 2, "FLOWDESK_DATABASE_URL names no database Flowdesk can use"),
        ("mysql://me@db.example.org/flowdesk", 2, "in SQLite or PostgreSQL, not mysql"),
    ],
)
def test_a_database_that_cannot_be_reached_is_said_in_a_line_with_its_exit_code(
    url: str, code: int, said: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a traceback of 134 lines ending in exit 1 ("input refused"): 6 for a database that
    does not answer, as the README's table says, 2 for a URL that names none."""
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", url)
    result = CliRunner().invoke(main, ["tasks", "--user", "bob"])
    assert result.exit_code == code, result.output
    assert said in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args",
    [["group", "a\udcffb"], ["show", "INC-\udcff"], ["user", "ann", "--name", "A\udc80nn"]],
)
def test_an_argument_that_is_not_utf8_is_refused_without_a_traceback(
    args: list[str], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bytes that are not UTF-8 reach Python as lone surrogates: every command crashed."""
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", database_url)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "an argument holds bytes that are not UTF-8 text" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
