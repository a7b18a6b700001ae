"""A major incident's postmortem through every door: the page, the API and the command line.

The rules are the service's (tests/integration/test_postmortems.py proves them one by one);
here each door is shown to reach them, and to answer their refusals as that door does.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from engine.service.commands import Commands
from engine.service.postmortems import Postmortems
from engine.service.tokens import issue_token
from engine.store.database import Database
from tests.infrastructure import Clock
from tests.major_incidents import declare, resolve
from tests.web.test_inbox import open_task, post, signed_in, team
from web.cli import main

__all__ = ["team"]


@pytest.fixture
def resolved(team: Commands, database: Database, clock: Clock) -> str:
    number = declare(team)
    resolve(team, database, number, lambda minutes: clock.advance(minutes=minutes))
    return number


def token(database: Database, username: str) -> dict[str, str]:
    with database.writer_session() as session, session.begin():
        secret = issue_token(session, username, "tests", datetime.now(UTC))[1]
    return {"Authorization": f"Bearer {secret}"}


def revision_of(page: str) -> str:
    found = re.search(r'name="revision" value="(\d+)"', page)
    assert found is not None
    return found.group(1)


def test_an_agent_drafts_edits_previews_assigns_and_exports_on_the_page(
    app: Flask, resolved: str, database: Database
) -> None:
    ivy = signed_in(app, "ivy")
    incident = ivy.get(f"/instances/{resolved}").text
    assert "Draft postmortem" in incident
    drafted = post(ivy, f"/instances/{resolved}/postmortem")
    assert drafted.status_code == 303
    page = ivy.get(drafted.headers["Location"]).text
    assert "was drafted from its timeline" in page
    assert "# Postmortem: MAJ-000001 MAJOR: Payments are down" in page
    assert "Open the postmortem" in ivy.get(f"/instances/{resolved}").text

    typed = "# Postmortem\n\n**Disk full.** <script>alert(1)</script>"
    preview = post(ivy, f"/instances/{resolved}/postmortem/preview", body=typed)
    assert preview.mimetype == "text/html"
    assert preview.text == (
        "<h3>Postmortem</h3>\n<p><strong>Disk full.</strong> "
        "&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"
    )
    # What no save would keep is not drawn: a 2 MB table took 19 s and answered 11 MB.
    huge = post(ivy, f"/instances/{resolved}/postmortem/preview", body="|a|" * 40_000)
    assert huge.status_code == 413
    assert "over 100,000 characters" in huge.text
    saved = post(ivy, f"/instances/{resolved}/postmortem/text", body=typed, revision="1")
    assert saved.status_code == 303
    page = ivy.get(f"/instances/{resolved}/postmortem").text
    assert "Revision 2, saved by ivy" in page
    assert "<strong>Disk full.</strong> &lt;script&gt;" in page
    assert "<script>alert(1)</script>" not in page

    stale = post(ivy, f"/instances/{resolved}/postmortem/text", body="# Mine", revision="1")
    assert stale.status_code == 409
    assert "ivy saved revision 2, and yours started from revision 1" in stale.text
    assert "># Mine</textarea>" in stale.text  # what was typed is kept
    assert revision_of(stale.text) == "2"  # the next save starts from theirs

    given = post(
        ivy,
        f"/instances/{resolved}/postmortem/actions",
        title="Alert on disk usage",
        owner="sam",
        due="2026-12-04",
    )
    assert given.status_code == 303
    assert open_task(database, "ACT-000001").assignee == "sam"
    refused = post(ivy, f"/instances/{resolved}/postmortem/actions", title="Drill", due="soon")
    assert refused.status_code == 422
    assert "give the due day as a date, like 2026-12-31" in refused.text

    markdown = ivy.get(f"/instances/{resolved}/postmortem.md")
    assert markdown.mimetype == "text/markdown"
    assert "attachment" in markdown.headers["Content-Disposition"]
    assert "| ACT-000001 | Alert on disk usage | sam | 2026-12-04 | open, with sam |" in (
        markdown.text
    )
    printed = ivy.get(f"/instances/{resolved}/postmortem/print")
    assert '<link rel="stylesheet" href="/postmortem-print.css">' in printed.text
    assert "<h2>Action items</h2>" in printed.text
    assert "@page" in app.test_client().get("/postmortem-print.css").text


def test_the_page_refuses_who_is_not_on_the_desk_and_what_is_not_a_major_incident(
    app: Flask, resolved: str, team: Commands
) -> None:
    rita = signed_in(app, "rita")
    assert rita.get(f"/instances/{resolved}/postmortem").status_code == 403
    assert post(rita, f"/instances/{resolved}/postmortem").status_code == 403
    ivy = signed_in(app, "ivy")
    still_open = declare(team)
    refused = post(ivy, f"/instances/{still_open}/postmortem")
    assert refused.status_code == 409
    assert "is still planning: its postmortem is drafted once it is resolved" in refused.text
    assert ivy.get("/instances/MAJ-999999/postmortem").status_code == 404


def test_the_api_drafts_saves_with_revisions_assigns_and_exports(
    app: Flask, resolved: str, database: Database
) -> None:
    client: FlaskClient = app.test_client()
    ivy = token(database, "ivy")
    base = f"/api/v1/instances/{resolved}/postmortem"
    assert client.get(base, headers=ivy).status_code == 404
    drafted = client.post(base, headers=ivy)
    assert drafted.status_code == 201
    assert drafted.headers["Location"] == base
    assert drafted.get_json()["revision"] == 1
    assert client.post(base, headers=ivy).status_code == 409

    saved = client.put(
        base, headers=ivy, json={"body": "# Postmortem\n\nDisk full.", "revision": 1}
    )
    assert saved.status_code == 200
    assert (saved.get_json()["revision"], saved.get_json()["updated_by"]) == (2, "ivy")
    stale = client.put(base, headers=ivy, json={"body": "# Mine", "revision": 1})
    assert stale.status_code == 409
    assert stale.get_json()["code"] == "conflict"
    empty = client.put(base, headers=ivy, json={"body": "", "revision": 2})
    assert empty.status_code == 422

    item = client.post(
        f"{base}/actions",
        headers=ivy,
        json={"title": "Rehearse the fail-over", "group": "network", "due": "2026-12-11"},
    )
    assert item.status_code == 201
    assert item.get_json()["state"] == "open, in the queue"
    assert item.headers["Location"] == "/api/v1/instances/ACT-000001"
    both = client.post(
        f"{base}/actions",
        headers=ivy,
        json={"title": "Drill", "group": "network", "owner": "sam", "due": "2026-12-11"},
    )
    assert both.status_code == 422
    assert both.get_json()["errors"][0]["pointer"] == "/owner"

    markdown = client.get(f"{base}/markdown", headers=ivy)
    assert markdown.mimetype == "text/markdown"
    assert markdown.text.startswith("# Postmortem\n\nDisk full.\n")
    page = client.get(f"{base}/html", headers=ivy)
    assert page.mimetype == "text/html"
    assert "<style>" in page.text
    assert "<td>ACT-000001</td>" in page.text

    rita = token(database, "rita")
    assert client.get(base, headers=rita).status_code == 403
    assert client.put(base, headers=rita, json={"body": "x", "revision": 2}).status_code == 403


def test_the_command_line_drafts_assigns_and_exports(
    resolved: str,
    commands: Commands,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", database_url)
    runner = CliRunner()
    refused = runner.invoke(main, ["postmortem", "draft", resolved, "--as", "rita"])
    assert refused.exit_code == 3
    assert "only the service desk writes and reads postmortems" in refused.output
    drafted = runner.invoke(main, ["postmortem", "draft", resolved, "--as", "ivy"])
    assert drafted.exit_code == 0, drafted.output
    assert f"The postmortem of {resolved} was drafted (revision 1)." in drafted.output
    again = runner.invoke(main, ["postmortem", "draft", resolved, "--as", "ivy"])
    assert again.exit_code == 5

    given = runner.invoke(
        main,
        [
            *("postmortem", "action", resolved, "Alert on disk usage"),
            *("--as", "ivy", "--user", "sam", "--due", "2099-01-15"),
        ],
    )
    assert given.exit_code == 0, given.output
    assert "ACT-000001: Alert on disk usage, for sam, due 2099-01-15." in given.output

    exported = runner.invoke(main, ["postmortem", "export", resolved, "--as", "ivy"])
    assert exported.exit_code == 0, exported.output
    assert exported.output.startswith(f"# Postmortem: {resolved}")
    assert "| ACT-000001 | Alert on disk usage | sam | 2099-01-15 | open, with sam |" in (
        exported.output
    )
    found = Postmortems(commands).postmortem(resolved, actor="ivy")
    assert found is not None
    assert found.document() == exported.output
