"""`flowdesk retention`, `backup`, `restore`, `export` and `import`: the operator's door."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from engine.service.commands import Commands
from engine.store.database import Database
from tests.integration.conftest import Clock
from tests.integration.test_backup import code_heads, count_instances, empty_url, old_database
from tests.integration.test_retention import finished_incident
from web.cli import main

__all__ = ["empty_url"]

Run = Callable[..., str]


@pytest.fixture
def flowdesk(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    runner = CliRunner()

    def run(url: str, *args: str, code: int = 0) -> str:
        monkeypatch.setenv("FLOWDESK_DATABASE_URL", url)
        result = runner.invoke(main, list(args))
        assert result.exit_code == code, result.output
        return result.output

    return run


def test_retention_policies_from_the_shell(
    flowdesk: Run, commands: Commands, database: Database, database_url: str, clock: Clock
) -> None:
    number = finished_incident(commands, database)
    refused = flowdesk(database_url, "retention", "set", "it-incident", "delete", code=1)
    assert "/after_days: delete needs a whole number of days" in refused
    days = ("retention", "set", "it-incident", "keep", "--after-days", "3")  # dropped, before
    assert "keep holds instances for ever: give it no days" in flowdesk(database_url, *days, code=1)
    nope = flowdesk(database_url, "export", "--jsonl", "-", "--workflow", "nope", code=4)
    assert "there is no workflow 'nope' to export" in nope
    assert "there is no user 'nosuchuser'" in flowdesk(
        database_url, "tasks", "--user", "nosuchuser", code=4
    )
    said = flowdesk(database_url, "retention", "set", "it-incident", "archive", "--after-days", "1")
    assert "archived 1 day after they end" in said
    assert flowdesk(database_url, "retention", "list") == "it-incident\tarchive\t1\n"
    # The command line's clock is the real one, weeks after the fake clock's incident.
    assert f"archived\t{number}" in flowdesk(database_url, "retention", "apply")
    assert f'"number": "{number}"' in flowdesk(database_url, "retention", "show", number)
    missing = flowdesk(database_url, "retention", "show", "INC-000404", code=4)
    assert "no instance INC-000404 is in the archive" in missing


def test_show_says_an_instance_retention_archived_was_archived_and_where_to_read_it(
    flowdesk: Run, commands: Commands, database: Database, database_url: str
) -> None:
    """`flowdesk show` on an archived number said "there is no instance", as for one that
    never was: now it says it was archived, when, and the command that prints its record."""
    number = finished_incident(commands, database)
    flowdesk(database_url, "retention", "set", "it-incident", "archive", "--after-days", "1")
    flowdesk(database_url, "retention", "apply")
    said = flowdesk(database_url, "show", number, code=4)
    assert re.fullmatch(
        f"Error: {number} was archived on [0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}} by its workflow's "
        "retention policy; its record, with all its history, is in the archive: "
        f"flowdesk retention show {number}\n",
        said,
    ), said
    assert f'"number": "{number}"' in flowdesk(database_url, "retention", "show", number)
    assert "there is no instance INC-000404" in flowdesk(database_url, "show", "INC-000404", code=4)


def test_backup_restore_export_import_from_the_shell(
    flowdesk: Run,
    commands: Commands,
    database: Database,
    database_url: str,
    empty_url: str,
    tmp_path: Path,
) -> None:
    finished_incident(commands, database)
    saved = tmp_path / "nightly.backup"
    assert "backup written to" in flowdesk(database_url, "backup", str(saved))
    refused = flowdesk(database_url, "restore", str(saved), code=5)
    assert "is not empty" in refused
    assert "backup restored" in flowdesk(empty_url, "restore", str(saved))
    restored = Database(empty_url)
    try:
        assert count_instances(restored) == 1
    finally:
        restored.dispose()

    lines = tmp_path / "all.jsonl"
    flowdesk(database_url, "export", "--jsonl", str(lines))
    # Password digests and integrations' secrets: readable by their owner alone.
    assert [oct(p.stat().st_mode & 0o777) for p in (saved, lines)] == ["0o600", "0o600"]
    assert "0 instance(s) imported, 1 instance(s) already there" in flowdesk(
        empty_url, "import", "--jsonl", str(lines)
    )
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(lines.read_bytes() + b"[1, 2]\n")
    said = flowdesk(empty_url, "import", "--jsonl", str(broken), code=1)
    last = len(lines.read_bytes().splitlines()) + 1
    # Each problem once, with its line once: the first line said the first problem again,
    # and every problem said its line twice ("/line/25: line 25: is not a JSON object").
    assert said == (
        "Error: nothing was imported: the file has 1 problem\n"
        f"  /line/{last}: is not a JSON object\n"
    )


def test_run_away_from_its_instance_folder_a_command_refuses_rather_than_make_a_new_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without `FLOWDESK_DATABASE_URL`, the database is the instance folder's SQLite file.
    A cron job that did not `cd` first made a new, empty database there and backed it up,
    saying it had: now it is refused, exit 4, and nothing is made."""
    monkeypatch.delenv("FLOWDESK_DATABASE_URL", raising=False)
    monkeypatch.delenv("FLOWDESK_INSTANCE_PATH", raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for args in (
        ["backup", str(tmp_path / "nightly.backup")],
        ["export", "--jsonl", str(tmp_path / "all.jsonl")],
        ["tasks", "--user", "bob"],
        ["retention", "list"],
        ["prune-files", "--dry-run"],  # it made a database, which the next command migrated
    ):
        result = runner.invoke(main, args)
        assert result.exit_code == 4, (args, result.output)
        assert "there is no Flowdesk database at" in result.output
        assert str(tmp_path / "instance" / "flowdesk.sqlite3") in result.output
    assert not (tmp_path / "instance" / "flowdesk.sqlite3").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_export_like_a_backup_refuses_a_file_that_is_there_already(
    flowdesk: Run, commands: Commands, database: Database, database_url: str, tmp_path: Path
) -> None:
    """An export wrote over whatever was at its path, where a backup refuses to: now both
    refuse, exit 1, in the same words, and leave the file as it was."""
    finished_incident(commands, database)
    folder = tmp_path / "exports"
    folder.mkdir()
    kept = folder / "yesterday.jsonl"
    kept.write_bytes(b"yesterday's export\n")
    for command, what in (("backup", "a backup"), ("export --jsonl", "an export")):
        said = flowdesk(database_url, *command.split(), str(kept), code=1)
        assert said == f"Error: {kept} exists already: {what} is written to a new file\n"
    assert kept.read_bytes() == b"yesterday's export\n"
    assert [p.name for p in folder.iterdir()] == [kept.name]  # no partial file left either
    away = folder / "no-such-folder" / "all.jsonl"
    said = flowdesk(database_url, "export", "--jsonl", str(away), code=1)
    assert said == f"Error: {away.parent} is not a folder\n"
    fresh = folder / "today.jsonl"
    assert flowdesk(database_url, "export", "--jsonl", str(fresh)).endswith("record(s) exported\n")
    assert fresh.read_bytes().startswith(b'{"format":"flowdesk-export"')


def test_a_database_a_newer_release_migrated_is_refused_in_words_at_each_door(
    database: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rolled back to an older release after an upgrade, every command, `up` and the worker
    ended in Alembic's traceback ("Can't locate revision identified by '0099'")."""
    with database.writer_session() as session, session.begin():
        session.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", database_url)

    said = CliRunner().invoke(main, ["tasks", "--user", "bob"])

    assert said.exit_code == 5, said.output
    assert "the database is at migration 0099, which this Flowdesk does not know" in said.output
    assert "Traceback" not in said.output
    worker = subprocess.run(
        [sys.executable, "-m", "engine.jobs", "--burst", "--redis-url", "redis://127.0.0.1:9/0"],
        env={**os.environ, "FLOWDESK_DATABASE_URL": database_url},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert worker.returncode == 2
    assert "which this Flowdesk does not know" in worker.stderr
    assert "Traceback" not in worker.stderr
    with database.reading() as session:
        assert session.scalar(text("SELECT version_num FROM alembic_version")) == "0099"


def test_a_command_that_migrates_the_database_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command of a new release migrated the schema under the stack still serving it,
    without a word."""
    old = old_database(tmp_path / "old.sqlite3", "0019")
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", f"sqlite:///{old}")

    first = CliRunner().invoke(main, ["tasks"])
    again = CliRunner().invoke(main, ["tasks"])

    assert first.exit_code == 0, first.output
    assert f"flowdesk: the database was migrated from 0019 to {max(code_heads())}" in first.output
    assert "migrated" not in again.output  # at the newest already: nothing to say
