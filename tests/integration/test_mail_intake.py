"""Email intake: real RFC 5322 messages open incidents, replies become comments, machines are
dropped; through the service, `flowdesk mail-in`, and a real SMTP listener on loopback."""

from __future__ import annotations

import json
import smtplib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from engine.core.errors import Problem
from engine.jobs.outbox import relay_outbox
from engine.service.catalogue import Catalogue
from engine.service.commands import Commands
from engine.service.errors import InvalidInput
from engine.service.mail_intake import MailIntake
from engine.service.people import ensure_user
from engine.settings import (
    MAIL_IN_FLOOD_HOURLY_LIMIT,
    MAIL_IN_FLOOD_LIMIT,
    MAIL_IN_MAX_FILE_BYTES,
    RelaySettings,
)
from engine.store.database import Database
from engine.store.files import FileStore
from engine.store.instances import Attachment, Comment, Instance, Outbox, Task, TrackingLink
from engine.store.mailboxes import InboundMail, Mailbox
from tests.infrastructure import Clock, MailServer
from tests.letters import BASE_URL, DEFAULTS, DESK, OUR_SENDER, letter, postfix_bounce
from web.cli import main

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def instance(database: Database, number: str) -> Instance:
    with database.reading() as session:
        row = session.scalar(select(Instance).where(Instance.number == number))
        assert row is not None
        session.expunge(row)
        return row


def count(database: Database, model: Any) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def comments(database: Database, number: str) -> list[tuple[str | None, str]]:
    with database.reading() as session:
        rows = session.execute(
            select(Comment.author, Comment.body)
            .join(Instance, Instance.id == Comment.instance_id)
            .where(Instance.number == number)
            .order_by(Comment.id)
        ).all()
        return [(row.author, row.body) for row in rows]


def records(database: Database) -> list[tuple[str, str]]:
    with database.reading() as session:
        rows = session.execute(
            select(InboundMail.outcome, InboundMail.reason).order_by(InboundMail.id)
        ).all()
        return [(row.outcome, row.reason) for row in rows]


# A new mail --------------------------------------------------------------------------------


def test_a_mail_with_attachments_opens_an_incident_for_the_user_with_that_address(
    mail: MailIntake, commands: Commands, files: FileStore
) -> None:
    raw = letter(
        files=(("screen.png", "image/png", PNG), ("log.txt", "text/plain", b"paper jam\n"))
    )
    receipt = mail.receive(raw, source="cli")
    assert receipt.outcome == "opened"
    assert receipt.number == "INC-000001"
    assert receipt.tracking_link is None  # alice has an account: My requests
    found = instance(commands.database, "INC-000001")
    assert found.requester == "alice"
    assert found.channel == "email"
    assert found.title == "The printer on floor 3 is jammed"
    data = found.state["data"]
    assert data["summary"] == "The printer on floor 3 is jammed"
    assert data["description"] == "It blinks red.\nSince this morning."
    assert data["email"] == "alice@example.org"
    assert data["category"] == "other"
    assert data["source"] == "email"
    with commands.database.reading() as session:
        kept = session.execute(
            select(Attachment.filename, Attachment.content_type, Attachment.storage_key)
            .where(Attachment.instance_id == found.id)
            .order_by(Attachment.id)
        ).all()
    assert [(k.filename, k.content_type) for k in kept] == [
        ("screen.png", "image/png"),
        ("log.txt", "text/plain"),
    ]
    assert files.path(kept[0].storage_key).read_bytes() == PNG
    assert records(commands.database) == [
        ("opened", f"opened from a mail by alice@example.org to {DESK}")
    ]


def test_a_stranger_becomes_a_caller_with_a_tracking_link_mailed_to_them(
    mail: MailIntake, commands: Commands
) -> None:
    receipt = mail.receive(letter("Carla <carla@elsewhere.example>"), source="smtp")
    assert receipt.outcome == "opened"
    assert receipt.tracking_link
    assert receipt.tracking_link.startswith(f"{BASE_URL}/track/")
    found = instance(commands.database, str(receipt.number))
    assert found.requester is None
    assert found.caller == {"name": "Carla", "email": "carla@elsewhere.example"}
    assert count(commands.database, TrackingLink) == 1
    with commands.database.reading() as session:
        payloads = list(session.scalars(select(Outbox.payload).where(Outbox.kind == "notify")))
    sent = [p for p in payloads if p.get("template") == "request-received"]
    assert sent
    assert sent[0]["to"] == {"email": "carla@elsewhere.example"}
    assert sent[0]["link"] == receipt.tracking_link


def test_an_html_only_mail_opens_an_incident_with_its_words_not_its_tags(
    mail: MailIntake, commands: Commands
) -> None:
    page = (
        "<html><head><style>p {color: red}</style><title>x</title></head><body>"
        "<p>VPN drops every <b>five</b> minutes.</p><p>Tried &amp; failed.</p>"
        "<script>alert(1)</script></body></html>"
    )
    receipt = mail.receive(letter(text=None, html=page), source="cli")
    description = instance(commands.database, str(receipt.number)).state["data"]["description"]
    assert description == "VPN drops every five minutes.\n\nTried & failed."


def test_the_same_mail_received_twice_opens_one_incident(
    mail: MailIntake, commands: Commands
) -> None:
    raw = letter()
    first = mail.receive(raw, source="imap")
    again = mail.receive(raw, source="imap")
    assert (again.outcome, again.number, again.repeated) == ("opened", first.number, True)
    assert count(commands.database, Instance) == 1


def test_a_mail_to_no_mailbox_is_refused_and_opens_nothing(
    mail: MailIntake, commands: Commands
) -> None:
    receipt = mail.receive(letter(to="someone@flowdesk.example"), source="cli")
    assert receipt.outcome == "refused"
    assert "no mailbox at someone@flowdesk.example" in receipt.reason
    assert count(commands.database, Instance) == 0


def test_a_mail_the_workflow_will_not_take_is_refused_with_why_and_keeps_no_file(
    mail: MailIntake, commands: Commands, files: FileStore
) -> None:
    with commands.database.writer_session() as session, session.begin():
        # As a mailbox saved before its workflow's start form asked for more holds it.
        session.execute(update(Mailbox).values(defaults={"category": "other"}))  # no impact
    raw = letter(files=(("screen.png", "image/png", PNG),))
    receipt = mail.receive(raw, source="cli")
    assert receipt.outcome == "refused"
    assert "/impact" in receipt.reason
    assert count(commands.database, Instance) == 0
    assert list(files.older_than(commands.clock().replace(year=2100))) == []


def test_a_mailbox_no_mail_could_open_an_instance_through_is_refused_and_says_why(
    mail: MailIntake, commands: Commands, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its service must be in the catalogue, and its defaults, with what a mail fills in,
    must fill in the start form: otherwise every mail to it would be refused."""
    before = mail.mailboxes()
    with pytest.raises(InvalidInput) as no_service:
        mail.save_mailbox(DESK, "it-incident", service_key="ghost", defaults=DEFAULTS)
    assert no_service.value.problems == [
        Problem("/service", "there is no service 'ghost' in the catalogue")
    ]
    with pytest.raises(InvalidInput) as short:
        mail.save_mailbox(DESK, "it-incident", defaults={"category": "other", "urgency": "x"})
    assert [(p.pointer, p.message) for p in short.value.problems] == [
        (
            "/defaults",
            "'impact' of it-incident's start form: Choose an option (give it in the defaults)",
        ),
        ("/defaults/urgency", "defaults/urgency: Choose one of the options"),
    ]
    ghost = {**DEFAULTS, "impact": "high", "affected_service": "ghost"}
    with pytest.raises(InvalidInput) as unknown:
        mail.save_mailbox(DESK, "it-incident", defaults=ghost)
    assert "defaults/affected_service: There is no service 'ghost'" in unknown.value.message
    # A mailbox with a service files every mail under it: defaults naming another would be
    # set aside in silence.
    Catalogue(commands).save_service(
        "payments", {"name": "Payments", "start_data": {}}, actor=None, create=True
    )
    other = {**DEFAULTS, "impact": "high", "affected_service": "payments"}
    with pytest.raises(InvalidInput) as overridden:
        mail.save_mailbox(DESK, "it-incident", service_key="email", defaults=other)
    assert overridden.value.problems == [
        Problem(
            "/defaults/affected_service",
            "defaults/affected_service: a mail to this mailbox is filed under its service "
            "'email'; leave it out",
        )
    ]
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", database_url)
    args = ["mailbox", DESK, "--workflow", "it-incident", "--service", "ghost"]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 1
    assert "there is no service 'ghost' in the catalogue" in refused.output
    args = ["mailbox", DESK, "--workflow", "it-incident", "--service", "email"]
    args += ["--defaults", json.dumps(other)]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 1
    assert "filed under its service 'email'; leave it out" in refused.output
    assert mail.mailboxes() == before


def test_a_mailbox_is_refused_for_a_workflow_that_does_not_exist(mail: MailIntake) -> None:
    with pytest.raises(InvalidInput, match="no published workflow 'nope'"):
        mail.save_mailbox("other@flowdesk.example", "nope")
    with pytest.raises(InvalidInput, match="one email address"):
        mail.save_mailbox("not an address", "it-incident")
    assert [box.address for box in mail.mailboxes()] == [DESK]


def test_a_sender_opens_by_mail_only_what_they_may_start(
    mail: MailIntake, commands: Commands
) -> None:
    """Service requests are for people signed in: a stranger's mail is refused, a user's is not."""
    requests = "requests@flowdesk.example"
    fields = {"subject": "", "body": "details", "name": "", "email": ""}
    defaults = {"item": "laptop", "cost": 300, "manager": "sam"}
    mail.save_mailbox(requests, "service-request", fields=fields, defaults=defaults)
    stranger = mail.receive(letter("eve@elsewhere.example", to=requests), source="smtp")
    assert stranger.outcome == "refused"
    assert "sign in to start 'Service request'" in stranger.reason
    opened = mail.receive(letter(to=requests, text="A laptop for the new hire."), source="smtp")
    assert (opened.outcome, opened.number) == ("opened", "REQ-000001")
    found = instance(commands.database, "REQ-000001")
    assert found.requester == "alice"
    assert found.state["data"]["details"] == "A laptop for the new hire."


# Replies -----------------------------------------------------------------------------------

QUOTED = (
    "Still jammed after the restart.\r\n"
    "\r\n"
    "On Mon, 23 Nov 2026 at 09:12, Flowdesk <flowdesk@flowdesk.example> wrote:\r\n"
    "> We received your request INC-000001.\r\n"
    "> Follow it at this link.\r\n"
)


def test_a_reply_by_its_requester_becomes_a_public_comment_without_the_quote(
    mail: MailIntake, commands: Commands
) -> None:
    mail.receive(letter(), source="cli")
    receipt = mail.receive(
        letter(subject="Re: [INC-000001] The printer on floor 3 is jammed", text=QUOTED),
        source="cli",
    )
    assert (receipt.outcome, receipt.number) == ("commented", "INC-000001")
    assert comments(commands.database, "INC-000001") == [
        ("alice", "Still jammed after the restart.")
    ]
    assert count(commands.database, Instance) == 1


@pytest.mark.parametrize(
    "sender", ["Alice Example <alice@example.org>", "Carla <carla@elsewhere.example>"]
)
def test_a_requesters_reply_answers_the_question_the_desk_asked_them(
    mail: MailIntake, commands: Commands, sender: str
) -> None:
    """The desk asks "which model?"; the requester answers by replying to the mail. The
    reply was only a comment: the incident kept waiting on the requester, their task stayed
    open, a reminder came two days later, and no agent was told."""
    opened = mail.receive(letter(sender), source="cli")  # alice's, or a caller's
    number = str(opened.number)
    with commands.database.reading() as session:
        work = session.scalars(select(Task).where(Task.step == "work")).one()
    commands.complete(work.id, "needs_info", {"question": "Which model is it?"},
                      actor=str(work.assignee))  # fmt: skip
    assert instance(commands.database, number).status == "waiting_on_requester"

    subject = f"Re: [{number}] We need more information about {number}"
    quoted = "On Mon, 23 Nov 2026, Flowdesk <flowdesk@flowdesk.example> wrote:\r\n> Which?"
    answer = letter(sender, subject, "An HP M605.\r\n\r\n" + quoted)
    receipt = mail.receive(answer, source="smtp")

    assert (receipt.outcome, receipt.number) == ("answered", number)
    assert "answers 'Answer the service desk'" in receipt.reason
    with commands.database.reading() as session:
        asked = session.scalars(select(Task).where(Task.step == "ask_requester")).one()
        reopened = session.scalars(
            select(Task).where(Task.step == "work", Task.status == "open")
        ).one()
    assert (asked.status, asked.data) == ("completed", {"reply": "An HP M605."})
    assert reopened.assignee  # back with the desk
    assert instance(commands.database, number).status != "waiting_on_requester"
    assert comments(commands.database, number) == []  # the answer, not also a comment
    assert mail.receive(answer, source="smtp").repeated  # received twice: answered once


def test_an_agent_may_answer_by_mail_and_a_stranger_may_not(
    mail: MailIntake, commands: Commands
) -> None:
    mail.receive(letter(), source="cli")
    subject = "Re: [INC-000001] The printer on floor 3 is jammed"
    by_agent = mail.receive(letter("bob@example.org", subject, "On my way."), source="cli")
    assert by_agent.outcome == "commented"
    stranger = mail.receive(letter("rita@example.org", subject, "Mine now."), source="cli")
    assert stranger.outcome == "refused"
    assert stranger.reason == "rita@example.org has no part in INC-000001"
    outsider = mail.receive(letter("eve@evil.example", subject, "Hi."), source="cli")
    assert outsider.outcome == "refused"
    assert comments(commands.database, "INC-000001") == [("bob", "On my way.")]
    assert count(commands.database, Instance) == 1


def test_an_agents_mail_reply_is_public_only_when_written_to_the_requester_too(
    mail: MailIntake, commands: Commands
) -> None:
    """An agent answering the "assigned to you" mail wrote to Flowdesk alone ("note to
    self: this user broke 3 printers"), and the requester read it on their page."""
    mail.receive(letter(), source="cli")
    subject = "Re: [INC-000001] The printer on floor 3 is jammed"
    mail.receive(letter("bob@example.org", subject, "Billing his cost centre."), source="cli")
    cc = {"Cc": "Alice <alice@example.org>"}
    mail.receive(letter("bob@example.org", subject, "On my way.", headers=cc), source="cli")
    with commands.database.reading() as session:
        said = session.execute(select(Comment.body, Comment.public).order_by(Comment.id)).all()
    assert [tuple(row) for row in said] == [
        ("Billing his cost centre.", False),
        ("On my way.", True),
    ]


def test_an_approvers_mail_reply_is_public_only_when_written_to_the_requester_too(
    mail: MailIntake, commands: Commands
) -> None:
    """Someone who holds a task but is no agent (a manager approving) answered the notice
    only Flowdesk got, and it went onto the requester's page."""
    mail.receive(letter(), source="cli")
    with commands.database.writer_session() as session, session.begin():
        ensure_user(session, "mgr", commands.clock(), email="mgr@example.org", roles=["requester"])
        work = session.scalars(select(Task).where(Task.step == "work")).one()
        work.assignee = "mgr"
    subject = "Re: [INC-000001] The printer on floor 3 is jammed"
    mail.receive(letter("mgr@example.org", subject, "Between us: again."), source="cli")
    with commands.database.reading() as session:
        said = session.execute(select(Comment.author, Comment.public)).all()
    assert [tuple(row) for row in said] == [("mgr", False)]


def test_a_new_mail_naming_someone_elses_request_opens_one_of_the_senders(
    mail: MailIntake, commands: Commands
) -> None:
    """ "Same printer problem as [INC-000001], but on floor 2" from a colleague was refused
    ("has no part in INC-000001"), and their report lost. A reply from them still is."""
    mail.receive(letter(), source="cli")  # alice's INC-000001
    cited = letter("rita@example.org", "Same problem as [INC-000001], but on floor 2")
    opened = mail.receive(cited, source="cli")
    assert (opened.outcome, opened.number) == ("opened", "INC-000002")
    assert instance(commands.database, "INC-000002").requester == "rita"
    reply = letter("rita@example.org", "Re: [INC-000001] The printer on floor 3 is jammed")
    assert mail.receive(reply, source="cli").outcome == "refused"


def test_a_reply_to_the_mail_we_sent_finds_its_incident_by_its_headers(
    mail: MailIntake, commands: Commands, clock: Clock
) -> None:
    """The caller answers our confirmation; the subject lost its number, the headers did not."""
    server = MailServer()
    server.start()
    try:
        first = mail.receive(letter("Carla <carla@elsewhere.example>"), source="smtp")
        settings = RelaySettings(
            smtp_host="127.0.0.1", smtp_port=server.port, smtp_from=OUR_SENDER, smtp_timeout_s=5
        )
        relay_outbox(commands.database, settings=settings, now=clock())
    finally:
        server.stop()
    (_to, confirmation), *_ = server.inbox.received
    answer = letter(
        "carla@elsewhere.example",
        "Thanks",
        "It works again, you can close it.",
        headers={"In-Reply-To": str(confirmation["Message-ID"])},
    )
    receipt = mail.receive(answer, source="smtp")
    assert (receipt.outcome, receipt.number) == ("commented", first.number)
    assert comments(commands.database, str(first.number)) == [
        ("~requester", "It works again, you can close it.")
    ]


def test_the_desks_public_reply_is_mailed_to_a_requester_without_an_account_who_answers_it(
    mail: MailIntake, commands: Commands, clock: Clock
) -> None:
    """A caller who wrote in by mail saw the desk's answers only if they opened their
    tracking page: the reply was never mailed. Now it is, and their answer to that mail
    comes back as theirs. Internal notes are not mailed; nor is anyone with an account,
    who hears on the bell."""
    carla = mail.receive(letter("Carla <carla@elsewhere.example>"), source="smtp")
    number = str(carla.number)
    alice = str(mail.receive(letter(subject="Another"), source="smtp").number)
    commands.comment(number, "Only for the desk", actor="bob", public=False)
    commands.comment(number, "Which floor is the printer on?", actor="bob", public=True)
    commands.comment(alice, "On our way", actor="bob", public=True)
    server = MailServer()
    server.start()
    try:
        settings = RelaySettings(
            smtp_host="127.0.0.1", smtp_port=server.port, smtp_from=OUR_SENDER, smtp_timeout_s=5
        )
        relay_outbox(commands.database, settings=settings, now=clock())
    finally:
        server.stop()
    replies = [m for _to, m in server.inbox.received if "Re: [" in str(m["Subject"])]
    assert len(replies) == 1
    (reply,) = replies
    assert str(reply["To"]) == "carla@elsewhere.example"
    assert str(reply["Subject"]) == f"Re: [{number}] The printer on floor 3 is jammed"
    body = reply.get_body(preferencelist=("plain",)).get_content()
    assert "Which floor is the printer on?" in body
    assert "Only for the desk" not in body

    answer = letter("carla@elsewhere.example", str(reply["Subject"]), "Floor 3, by the lift.",
                    headers={"In-Reply-To": str(reply["Message-ID"])})  # fmt: skip
    assert mail.receive(answer, source="smtp").outcome == "commented"
    assert comments(commands.database, number)[-1] == ("~requester", "Floor 3, by the lift.")


def test_a_subject_naming_an_incident_that_does_not_exist_opens_a_new_one(
    mail: MailIntake, commands: Commands
) -> None:
    receipt = mail.receive(letter(subject="Re: [INC-000777] old ticket"), source="cli")
    assert receipt.outcome == "opened"


def test_an_out_of_office_answer_to_our_mail_is_dropped_not_made_a_comment(
    mail: MailIntake, commands: Commands
) -> None:
    mail.receive(letter(), source="smtp")
    answer = letter(
        subject="Automatic reply: [INC-000001] The printer on floor 3 is jammed",
        text="I am away until Monday.",
        headers=EXCHANGE_OUT_OF_OFFICE,
    )
    assert mail.receive(answer, source="smtp").outcome == "dropped"
    assert comments(commands.database, "INC-000001") == []


def test_an_attachment_over_the_limit_is_left_out_and_the_timeline_says_so(
    mail: MailIntake, commands: Commands
) -> None:
    big = b"x" * (MAIL_IN_MAX_FILE_BYTES + 1)
    raw = letter(
        files=(("dump.bin", "application/octet-stream", big), ("ok.txt", "text/plain", b"ok"))
    )
    receipt = mail.receive(raw, source="smtp")
    assert receipt.outcome == "opened"
    assert receipt.reason.endswith("left out, larger than 10 MB: dump.bin")
    with commands.database.reading() as session:
        names = list(session.scalars(select(Attachment.filename)))
    assert names == ["ok.txt"]


# Machines ----------------------------------------------------------------------------------

EXCHANGE_OUT_OF_OFFICE = {
    "Auto-Submitted": "auto-replied",
    "X-MS-Exchange-Inbox-Rules-Loop": "alice@example.org",
    "X-Auto-Response-Suppress": "All",
}
GMAIL_VACATION = {"Auto-Submitted": "auto-replied", "Precedence": "bulk"}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (
            letter(subject="Automatic reply: out of office", headers=EXCHANGE_OUT_OF_OFFICE),
            "an automatic reply (Auto-Submitted: auto-replied)",
        ),
        (
            letter(subject="Vacation", headers=GMAIL_VACATION),
            "an automatic reply (Auto-Submitted: auto-replied)",
        ),
        (
            letter(subject="Out of office", headers={"X-Autoreply": "yes"}),
            "an automatic reply (X-Autoreply)",
        ),
        (
            letter(subject="Newsletter", headers={"Precedence": "list"}),
            "bulk or list mail (Precedence: list)",
        ),
        (postfix_bounce(), "a delivery report (bounce)"),
        (letter(headers={"X-Loop": DESK}), f"a mail loop (X-Loop: {DESK})"),
        (letter(OUR_SENDER), f"a mail loop: it comes from Flowdesk's own address {OUR_SENDER}"),
    ],
    ids=["exchange", "gmail", "x-autoreply", "list", "postfix-bounce", "x-loop", "own-from"],
)
def test_mail_from_machines_is_dropped_with_the_reason_recorded(
    mail: MailIntake, commands: Commands, raw: bytes, reason: str
) -> None:
    receipt = mail.receive(raw, source="smtp")
    assert (receipt.outcome, receipt.reason) == ("dropped", reason)
    assert count(commands.database, Instance) == 0
    assert records(commands.database) == [("dropped", reason)]


def test_a_sender_who_writes_too_often_in_a_minute_is_dropped_until_it_passes(
    mail: MailIntake, commands: Commands, clock: Clock
) -> None:
    for n in range(MAIL_IN_FLOOD_LIMIT):
        assert mail.receive(letter(subject=f"Problem {n}"), source="smtp").outcome == "opened"
    flooded = mail.receive(letter(subject="One more"), source="smtp")
    assert flooded.outcome == "dropped"
    assert "more than 10 mails within 60 seconds" in flooded.reason
    clock.advance(minutes=2)
    assert mail.receive(letter(subject="Later"), source="smtp").outcome == "opened"
    assert count(commands.database, Instance) == MAIL_IN_FLOOD_LIMIT + 1


def test_an_auto_responder_answering_every_few_seconds_is_stopped_within_the_hour(
    mail: MailIntake, commands: Commands, clock: Clock
) -> None:
    """Another helpdesk's auto-responder, answering ours every 7 s, stays under ten a minute:
    it opened 23 incidents in 150 s, and would have gone on for good."""
    for n in range(MAIL_IN_FLOOD_HOURLY_LIMIT):
        receipt = mail.receive(letter("bot@vendor.example", f"[VND-{n}] Received"), source="smtp")
        assert receipt.outcome == "opened", (n, receipt.reason)
        clock.advance(seconds=7)
    stopped = mail.receive(letter("bot@vendor.example", "[VND-x] Received"), source="smtp")
    assert (stopped.outcome, stopped.reason) == (
        "dropped",
        f"bot@vendor.example sent more than {MAIL_IN_FLOOD_HOURLY_LIMIT} mails within an hour",
    )
    clock.advance(hours=1)
    assert mail.receive(letter("bot@vendor.example", "Later"), source="smtp").outcome == "opened"


# Doors -------------------------------------------------------------------------------------


def test_a_mail_sent_to_the_smtp_listener_opens_an_incident(
    smtp_listener: int, commands: Commands
) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_listener, timeout=10) as smtp:
        refused = smtp.sendmail("x@example.org", ["nobody@flowdesk.example", DESK], letter())
    assert refused == {
        "nobody@flowdesk.example": (550, b"5.1.1 There is no mailbox at nobody@flowdesk.example")
    }
    found = instance(commands.database, "INC-000001")
    assert found.requester == "alice"
    assert found.channel == "email"


def test_the_smtp_listener_relays_nothing(smtp_listener: int, commands: Commands) -> None:
    with (
        smtplib.SMTP("127.0.0.1", smtp_listener, timeout=10) as smtp,
        pytest.raises(smtplib.SMTPRecipientsRefused),
    ):
        smtp.sendmail("x@example.org", ["someone@gmail.example"], letter())
    assert count(commands.database, Instance) == 0


def test_flowdesk_mail_in_feeds_one_eml_file(
    mail: MailIntake, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", database_url)
    monkeypatch.setenv("FLOWDESK_UPLOAD_FOLDER", str(tmp_path / "cli-files"))
    monkeypatch.delenv("FLOWDESK_BASE_URL", raising=False)
    eml = tmp_path / "problem.eml"
    eml.write_bytes(letter("Dora <dora@elsewhere.example>"))
    runner = CliRunner()
    opened = runner.invoke(main, ["mail-in", str(eml)])
    assert opened.exit_code == 0, opened.output
    assert "opened: opened from a mail by dora@elsewhere.example" in opened.output
    assert "(INC-000001)" in opened.output
    again = runner.invoke(main, ["mail-in", str(eml)])
    assert again.exit_code == 0
    assert "received before; nothing changed" in again.output
    bounce = tmp_path / "bounce.eml"
    bounce.write_bytes(postfix_bounce())
    dropped = runner.invoke(main, ["mail-in", str(bounce)])
    assert dropped.exit_code == 2
    assert "dropped: a delivery report (bounce)" in dropped.output
    listed = runner.invoke(main, ["mailbox"])
    assert f"{DESK}  -> it-incident service email" in listed.output


def test_flowdesk_mailbox_changes_what_it_is_given_and_keeps_the_rest(
    mail: MailIntake, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the docs say: `flowdesk mailbox ADDRESS --inactive` stops a mailbox taking mail; its
    workflow, service, fields and defaults stay (the defaults were wiped, so the shipped
    incident's mailbox was refused for want of an impact)."""
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", database_url)
    runner = CliRunner()
    before = mail.mailbox(DESK.upper())
    assert before is not None
    assert before.active

    stopped = runner.invoke(main, ["mailbox", DESK, "--inactive"])

    assert stopped.exit_code == 0, stopped.output
    assert "(inactive: it takes no mail)" in stopped.output
    assert mail.mailbox(DESK) == replace(before, active=False)
    assert not mail.accepts(DESK)
    again = runner.invoke(main, ["mailbox", DESK, "--active", "--service", ""])
    assert again.exit_code == 0, again.output
    assert mail.mailbox(DESK) == replace(before, service_key=None)
    assert mail.accepts(DESK)
    new = runner.invoke(main, ["mailbox", "new@flowdesk.example", "--inactive"])
    assert new.exit_code == 2
    assert "give the workflow its mails open: --workflow KEY" in new.output
    assert mail.mailbox("new@flowdesk.example") is None


def test_a_mailbox_without_a_service_leaves_the_one_its_workflows_form_names(
    mail: MailIntake, commands: Commands
) -> None:
    """A workflow filing requests by their form's service field (`start.service`, as the
    shipped incident does), fed by a mailbox that has no service of its own: the form's
    service stands (it was wiped)."""
    Catalogue(commands).save_service(
        "payments", {"name": "Payments", "start_data": {}}, actor=None, create=True
    )
    mail.save_mailbox(
        "outages@flowdesk.example",
        "it-incident",
        defaults={**DEFAULTS, "impact": "high", "affected_service": "payments"},
    )

    receipt = mail.receive(letter(to="outages@flowdesk.example"), source="cli")

    assert instance(commands.database, str(receipt.number)).service_key == "payments"
