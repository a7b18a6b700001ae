"""Mail as real clients and servers send it (tests/mails/): Outlook's, Apple Mail's and
Gmail's files however deep they sit, a signed mail, a forged sender, mail too broken to
split, forwards by Exchange rules and Google Groups, bounces with an empty sender.

Each is fed to the intake through `receive` (the door every other feeds), and one through
the SMTP listener, whose envelope sender only that door knows.
"""

from __future__ import annotations

import smtplib
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.service.commands import Commands
from engine.service.mail_intake import MailIntake
from engine.store.database import Database
from engine.store.instances import Attachment, Comment, Instance
from tests.integration.test_mail_intake import count, records
from tests.letters import DESK, letter

MAILS = Path(__file__).parent.parent / "mails"


def raw(name: str) -> bytes:
    return (MAILS / f"{name}.eml").read_bytes()


def attached(database: Database, number: str) -> dict[str, str]:
    """The files of an instance: name -> the type Flowdesk keeps for it."""
    with database.reading() as session:
        rows = session.execute(
            select(Attachment.filename, Attachment.content_type)
            .join(Instance, Instance.id == Attachment.instance_id)
            .where(Instance.number == number)
        ).all()
    return dict(rows)


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        # a pasted screenshot (multipart/related) beside an attachment
        ("outlook-new", {"image001.png", "Fehlerprotokoll.pdf"}),
        ("gmail-inline-and-attach", {"error.png", "eventlog.txt"}),
        # a file inside the alternative's HTML half
        ("apple-attach", {"vpn-client.log"}),
        # the files of a signed mail, not its signature
        ("smime-signed", {"Antrag_SAP.pdf"}),
    ],
)
def test_every_file_a_client_sends_is_kept_however_deep_it_sits(
    mail: MailIntake, commands: Commands, name: str, kept: set[str]
) -> None:
    receipt = mail.receive(raw(name), recipients=[DESK], source="cli")
    assert receipt.outcome == "opened", receipt.reason
    assert set(attached(commands.database, "INC-000001")) == kept


def test_a_files_name_loses_its_path_and_hidden_characters_and_its_type_is_read_not_told(
    mail: MailIntake, commands: Commands
) -> None:
    assert mail.receive(raw("names"), recipients=[DESK], source="cli").outcome == "opened"
    kept = attached(commands.database, "INC-000001")
    assert "passwd" in kept
    assert not any("/" in name or "\\" in name for name in kept)
    assert "invoice.pdfgnp.exe" in kept  # the right-to-left override that hid ".exe" is gone
    assert all(len(name) <= 200 for name in kept)


def test_a_display_name_holding_another_address_opens_and_says_nothing_as_that_person(
    mail: MailIntake, commands: Commands
) -> None:
    """`From: bob@example.org <mallory@evil.example>` was read as from bob, an agent: a
    comment by "bob" with a phishing link went onto the requester's page. The receiving
    server's SPF and DMARC checks judged mallory's domain, not bob's."""
    mail.receive(letter(), source="cli")  # INC-000001, alice's

    receipt = mail.receive(raw("spoof-agent"), recipients=[DESK], source="smtp")

    assert receipt.outcome == "dropped"
    assert "no one sender's address" in receipt.reason
    with commands.database.reading() as session:
        assert session.scalars(select(Comment.author)).all() == []


@pytest.mark.parametrize("name", ["nested-related-bad-boundary", "broken-to-header"])
def test_a_mail_too_broken_to_split_is_still_read_and_opens(
    mail: MailIntake, commands: Commands, name: str
) -> None:
    """A multipart whose boundary is not the one it declares raised inside the standard
    library: the SMTP door answered 451 (try again: for days), an IMAP poll stopped at it
    for good. It is read as what it says, raw."""
    receipt = mail.receive(raw(name), source="cli")  # its own headers name the mailbox
    assert receipt.outcome == "opened", receipt.reason
    with commands.database.reading() as session:
        opened = session.scalars(select(Instance.state)).one()
    assert "Screenshot" in opened["data"]["description"] or "Outlook" in opened["data"]["summary"]


def test_bytes_that_are_no_mail_at_all_are_refused_once_and_recorded(
    mail: MailIntake, commands: Commands
) -> None:
    receipt = mail.receive(raw("broken-address"), source="cli")
    assert receipt.outcome == "refused"
    assert count(commands.database, Instance) == 0
    assert records(commands.database) == [("refused", receipt.reason)]


def test_a_display_name_longer_than_a_name_may_be_is_cut_not_refused(
    mail: MailIntake, commands: Commands
) -> None:
    """A 134-character company display name was refused ("Enter at most 120 characters"),
    and the mail lost: the sender had written nothing wrong."""
    receipt = mail.receive(raw("long-name"), recipients=[DESK], source="cli")
    assert receipt.outcome == "opened", receipt.reason
    with commands.database.reading() as session:
        data = session.scalars(select(Instance.state)).one()["data"]
    assert data["name"].startswith("Müller-Wagner, Hans-Joachim")
    assert len(data["name"]) <= 120


@pytest.mark.parametrize("name", ["exchange-rule-forward", "google-group"])
def test_a_persons_mail_forwarded_by_a_rule_or_a_group_opens(
    mail: MailIntake, commands: Commands, name: str
) -> None:
    """Exchange stamps a rule's forward as it stamps its automatic replies, and a Google
    Group sends `Precedence: list`: both were dropped as machine mail."""
    receipt = mail.receive(raw(name), recipients=[DESK], source="imap")
    assert receipt.outcome == "opened", receipt.reason


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("vacation-noheader", "an automatic reply (its subject: Out of Office: "),
        ("newsletter", "bulk mail (a newsletter: List-Unsubscribe)"),
        ("null-sender-bounce", "an empty envelope sender (Return-Path: <>)"),
    ],
)
def test_machine_mail_without_the_headers_that_say_so_is_dropped(
    mail: MailIntake, commands: Commands, name: str, reason: str
) -> None:
    receipt = mail.receive(raw(name), recipients=[DESK], source="imap")
    assert receipt.outcome == "dropped"
    assert receipt.reason.startswith(reason)
    assert count(commands.database, Instance) == 0


def test_mail_with_an_empty_envelope_sender_is_never_answered(
    smtp_listener: int, commands: Commands
) -> None:
    """RFC 3834: nothing answers mail sent from `MAIL FROM:<>`. A bounce written as a
    person's mail was opened as an incident, and its "we received your request" mailed."""
    with smtplib.SMTP("127.0.0.1", smtp_listener, timeout=10) as smtp:
        smtp.sendmail("<>", [DESK], letter(subject="Undeliverable: your request"))
        smtp.sendmail("alice@example.org", [DESK], letter(subject="A person's"))
    assert [outcome for outcome, _ in records(commands.database)] == ["dropped", "opened"]
    assert count(commands.database, Instance) == 1
