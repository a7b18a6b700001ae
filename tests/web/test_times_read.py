"""Times read right: each person's time zone and date format, and durations in words.

Pages say moments in the zone and locale a person chose (on their account, through the API,
or an admin on the command line), else their browser's (the zone its script keeps in a
cookie, its languages), else UTC in British English; the zone is always named. A zone or
locale that is not one is refused at every door, saying which, and changes nothing.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine.service.accounts import set_password
from engine.service.commands import Commands
from engine.service.errors import NotAllowed
from engine.service.locales import Readings
from engine.service.person import Person
from engine.service.tokens import issue_token
from engine.store.database import Database
from engine.store.instances import Instance
from engine.store.people import User
from tests.infrastructure import INCIDENT
from tests.web.test_auth import csrf
from web.cli import main
from web.common.moments import duration_text, duration_words

PASSWORD = "correct horse battery"
#: What the account page says the time is now, in the reader's words.
NOW = re.compile(r"now it is <strong>([^<]+)</strong>")


@pytest.fixture
def bob(database: Database, commands: Commands) -> str:
    with database.writer_session() as session, session.begin():
        set_password(session, "bob", PASSWORD)
    return "bob"


def signed_in(app: Flask, username: str = "bob", **headers: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    answer = client.post(
        "/sign-in", data={"csrf_token": csrf(client), "username": username, "password": PASSWORD}
    )
    assert answer.status_code == 302
    return client


def now_said(client: FlaskClient) -> str:
    found = NOW.search(client.get("/account").text)
    assert found is not None, "the account page says no time"
    return found.group(1)


def reading_of(database: Database, username: str) -> tuple[str | None, str | None]:
    with database.reading() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        return user.time_zone, user.locale


# How pages say a moment ----------------------------------------------------------------------


def test_a_moment_is_said_in_utc_until_the_readers_zone_is_known(app: Flask, bob: str) -> None:
    said = now_said(signed_in(app))
    assert said.endswith(" UTC"), said
    assert re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} UTC", said), said


def test_the_browsers_zone_kept_in_its_cookie_is_used(app: Flask, bob: str) -> None:
    client = signed_in(app)
    client.set_cookie("time_zone", "Asia/Kolkata")
    said = now_said(client)
    assert said.endswith(" IST"), said
    client.set_cookie("time_zone", "Mars/Olympus_Mons")  # not a zone: as if none were said
    assert now_said(client).endswith(" UTC")


def test_the_browsers_language_sets_the_date_format(app: Flask, bob: str) -> None:
    german = signed_in(app, accept_language="de-DE,de;q=0.9,en;q=0.5")
    assert re.fullmatch(r"\d{2}\.\d{2}\.\d{4}, \d{2}:\d{2} UTC", now_said(german))
    american = signed_in(app, accept_language="en-US")
    assert re.fullmatch(
        r"[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}\W[AP]M UTC", now_said(american)
    )


def test_a_zone_and_format_chosen_on_the_account_come_before_the_browsers(
    app: Flask, bob: str, database: Database
) -> None:
    client = signed_in(app, accept_language="de-DE")
    client.set_cookie("time_zone", "Asia/Kolkata")
    page = client.get("/account").text
    answer = client.post(
        "/account/reading",
        data={"csrf_token": csrf(client, "/account"), "time_zone": "America/New_York",
              "locale": "en_US"},
    )  # fmt: skip
    assert answer.status_code == 303
    assert reading_of(database, "bob") == ("America/New_York", "en_US")
    said = now_said(client)
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}\W[AP]M E[SD]T", said), said
    assert '<option value="America/New_York" selected>America/New York</option>' in (
        client.get("/account").text
    )
    assert "As my browser says" in page
    # Back to the browser's: the cookie's zone, the header's language.
    client.post(
        "/account/reading",
        data={"csrf_token": csrf(client, "/account"), "time_zone": "", "locale": ""},
    )
    assert reading_of(database, "bob") == (None, None)
    assert re.fullmatch(r"\d{2}\.\d{2}\.\d{4}, \d{2}:\d{2} IST", now_said(client))


# Every door refuses what is not a zone or a locale, and changes nothing ----------------------


def test_the_account_page_refuses_a_zone_that_is_not_one_and_keeps_what_was_chosen(
    app: Flask, bob: str, database: Database, commands: Commands
) -> None:
    Readings(commands).choose(None, "bob", time_zone="Europe/Paris", locale="fr_FR")
    client = signed_in(app)
    answer = client.post(
        "/account/reading",
        data={"csrf_token": csrf(client, "/account"), "time_zone": "Europe/Atlantis",
              "locale": "en_GB"},
    )  # fmt: skip
    assert answer.status_code == 422
    assert "&#39;Europe/Atlantis&#39; is not a time zone" in answer.text
    assert 'aria-invalid="true"' in answer.text
    assert reading_of(database, "bob") == ("Europe/Paris", "fr_FR")


def test_the_api_chooses_keeps_what_is_left_out_and_refuses_what_is_not_one(
    client: FlaskClient, database: Database, commands: Commands
) -> None:
    with database.writer_session() as session, session.begin():
        token = issue_token(session, "bob", "tests", commands.clock())[1]
    bearer = {"Authorization": f"Bearer {token}"}
    chosen = client.patch("/api/v1/me", json={"time_zone": "Asia/Kolkata"}, headers=bearer)
    assert chosen.status_code == 200
    assert (chosen.json["time_zone"], chosen.json["locale"]) == ("Asia/Kolkata", None)
    chosen = client.patch("/api/v1/me", json={"locale": "en-US"}, headers=bearer)
    assert (chosen.json["time_zone"], chosen.json["locale"]) == ("Asia/Kolkata", "en_US")
    assert client.get("/api/v1/me", headers=bearer).json["locale"] == "en_US"

    for sent, pointer in (
        ({"time_zone": "Moon/Base"}, "/time_zone"),
        ({"locale": "xx_ZZ"}, "/locale"),
    ):
        body = {"time_zone": "UTC", **sent}
        refused = client.patch("/api/v1/me", json=body, headers=bearer)
        assert refused.status_code == 422, refused.json
        assert pointer in str(refused.json), refused.json
    unknown = client.patch("/api/v1/me", json={"zone": "UTC"}, headers=bearer)
    assert unknown.status_code == 422
    assert reading_of(database, "bob") == ("Asia/Kolkata", "en_US")

    cleared = client.patch("/api/v1/me", json={"time_zone": None}, headers=bearer)
    assert (cleared.json["time_zone"], cleared.json["locale"]) == (None, "en_US")


def test_the_command_line_chooses_for_a_user_and_refuses_what_is_not_one(
    database: Database, database_url: str, commands: Commands, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", database_url)
    runner = CliRunner()
    done = runner.invoke(main, ["user", "bob", "--time-zone", "Europe/Amsterdam"])
    assert done.exit_code == 0, done.output
    assert reading_of(database, "bob") == ("Europe/Amsterdam", None)
    refused = runner.invoke(main, ["user", "bob", "--name", "Robert", "--locale", "klingon"])
    assert refused.exit_code == 1, refused.output
    assert "'klingon' is not a locale" in refused.output
    assert reading_of(database, "bob") == ("Europe/Amsterdam", None)
    with database.reading() as session:
        assert session.scalars(select(User.name).where(User.username == "bob")).one() != "Robert"


def test_only_an_admin_chooses_for_someone_else(database: Database, commands: Commands) -> None:
    readings = Readings(commands)
    bob = Person(1, "bob", "Bob", None, frozenset(), frozenset())
    with pytest.raises(NotAllowed):
        readings.choose(bob, "alice", time_zone="UTC")
    ada = Person(2, "ada", "Ada", None, frozenset({"admin"}), frozenset())
    assert readings.choose(ada, "alice", time_zone="UTC").time_zone == "UTC"
    assert reading_of(database, "alice") == ("UTC", None)


# Durations in words --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "words"),
    [
        (timedelta(seconds=30), "less than a minute"),
        (timedelta(minutes=1), "1 minute"),
        (timedelta(minutes=90), "1 hour 30 minutes"),
        (timedelta(hours=2), "2 hours"),
        (timedelta(days=1, hours=1, minutes=5), "1 day 1 hour"),
        (timedelta(days=3), "3 days"),
        (-timedelta(minutes=5), "5 minutes"),
    ],
)
def test_a_duration_is_said_in_words(delta: timedelta, words: str) -> None:
    assert duration_words(delta) == words


def test_an_iso_duration_is_said_in_words_and_anything_else_as_given() -> None:
    assert duration_text("PT1H30M") == "1 hour 30 minutes"
    assert duration_text("P2D") == "2 days"
    assert duration_text("soon") == "soon"


def test_the_sla_targets_on_the_instance_page_are_in_words(
    app: Flask, bob: str, commands: Commands
) -> None:
    started = commands.start("it-incident", INCIDENT, requester="alice")
    page = signed_in(app).get(f"/instances/{started['number']}").text
    clocks = page.split('id="sla-title"', 1)[1].split("</table>", 1)[0]
    targets = re.findall(r'<th scope="row">(\w+)</th>\s*<td>([^<]*)</td>', clocks)
    assert targets == [("Response", "1 hour"), ("Resolution", "8 hours")], targets


def test_a_date_and_time_typed_on_a_page_is_in_the_readers_zone(
    app: Flask, bob: str, database: Database
) -> None:
    """A `datetime-local` box holds no zone: what a person in Amsterdam types is Amsterdam
    time, as the page showed them every other moment (it was kept as UTC, an hour off)."""
    client = signed_in(app)
    client.set_cookie("time_zone", "Europe/Amsterdam")
    page = client.get("/requests/new/major-incident")
    assert page.status_code == 200
    hidden = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    sent = client.post(
        "/requests/new/major-incident",
        data={
            **hidden,
            "summary": "Payments are down",
            "services": "payments",
            "customer_impact": "Nobody can pay.",
            "started_at": "2026-12-07T10:45",
            "service_owner": "sam",
        },
    )
    assert sent.status_code == 303, sent.text
    with database.reading() as session:
        (instance,) = session.scalars(select(Instance)).all()
    assert instance.state["data"]["started_at"] == "2026-12-07T10:45:00+01:00"
