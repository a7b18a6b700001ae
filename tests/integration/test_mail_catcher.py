"""Mail out of the box: the catcher `flowdesk up` starts keeps what the relay sends.

A real SMTP conversation on loopback (aiosmtpd) with the relay, then the whole embedded
stack: an escalation's reminder mail ends up in the instance folder's Maildir.
"""

from __future__ import annotations

import json
import mailbox
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from engine.jobs.outbox import relay_outbox
from engine.service.commands import Commands
from engine.service.notifications import Notifications
from engine.service.people import ensure_user
from engine.settings import CATCHER_HOST, CATCHER_MAILDIR, RelaySettings
from engine.store.database import Database
from tests.integration.conftest import INCIDENT, Clock
from tests.integration.test_stack import QUICK, flowdesk, running, stack_env  # noqa: F401
from web.cli.catcher import catcher
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


def test_up_catches_the_mail_of_the_embedded_stack(
    stack_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "quick.json").write_text(json.dumps(QUICK))
    maildir = Path(stack_env["FLOWDESK_INSTANCE_PATH"]) / CATCHER_MAILDIR
    with running(stack_env) as stack:
        flowdesk(stack_env, "user", "bob", "--email", "bob@desk.example")
        flowdesk(stack_env, "user", "alice")
        flowdesk(stack_env, "load", str(extra))
        number = flowdesk(stack_env, "start", "quick-escalation", "--as", "alice").strip()
        began = time.monotonic()
        while not (maildir / "new").is_dir() or not kept(maildir):
            assert time.monotonic() - began < 20, "no mail caught within 20 seconds"
            time.sleep(0.5)
        (message,) = kept(maildir)
        assert message["To"] == "bob@desk.example"
        assert message["Subject"].startswith(f"Reminder: {number} is waiting")
        assert f"http://127.0.0.1:{stack.port}/tasks/" in message.get_body(("plain",)).get_content()
    assert f"Mail: caught on {CATCHER_HOST}:" in stack.output
