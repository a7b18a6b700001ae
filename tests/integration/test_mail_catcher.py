"""Mail out of the box: the catcher `flowdesk up` starts keeps what the relay sends.

A real SMTP conversation on loopback (aiosmtpd) with the relay. With the whole embedded
stack, an escalation's reminder mail ends up in the instance folder's Maildir: that test
shares the stack `tests/integration/test_stack.py` starts once.
"""

from __future__ import annotations

import mailbox
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from engine.jobs.outbox import relay_outbox
from engine.service.commands import Commands
from engine.service.notifications import Notifications
from engine.service.people import ensure_user
from engine.settings import CATCHER_HOST, RelaySettings
from engine.store.database import Database
from tests.integration.conftest import INCIDENT, Clock
from web.catcher import catcher
from web.cli.stack import free_port


def kept(folder: Path) -> list[EmailMessage]:
    box = mailbox.Maildir(folder, create=False)
    found = []
    for key in box.iterkeys():
        message = message_from_bytes(box.get_bytes(key), policy=policy.default)
        assert isinstance(message, EmailMessage)
        found.append(message)
    return found


def test_the_catcher_keeps_each_mail_the_relay_sends_with_both_bodies(
    commands: Commands, database: Database, clock: Clock, tmp_path: Path
) -> None:
    with database.writer_session() as session, session.begin():
        ensure_user(session, "bob", clock(), email="bob@desk.example")
        ensure_user(session, "dan", clock(), email="dan@desk.example")
    for name in ("bob", "dan"):
        Notifications(commands).set_mail_kinds(name, ["assigned"])
    number = commands.start("it-incident", INCIDENT, requester="alice")["number"]
    port = free_port()
    controller = catcher(tmp_path / "mail", port)
    try:
        settings = RelaySettings(
            smtp_host=CATCHER_HOST, smtp_port=port, base_url="http://d.example"
        )
        report = relay_outbox(database, settings=settings, now=clock())
    finally:
        controller.stop()
    assert len(report.sent) == 1
    (message,) = kept(tmp_path / "mail")
    assert message["X-Flowdesk-Envelope-To"] in ("bob@desk.example", "dan@desk.example")
    assert message["Subject"].startswith(f"Assigned to you: {number}")
    assert message.get_content_type() == "multipart/alternative"
    assert "http://d.example/tasks/" in message.get_body(("plain",)).get_content()
    assert 'href="http://d.example/tasks/' in message.get_body(("html",)).get_content()
