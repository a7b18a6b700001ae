"""The integration suite's fixtures live in `tests.infrastructure` (the web tests share them),
but for the mail intake's, which its two modules share."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.service.catalogue import Catalogue
from engine.service.commands import Commands
from engine.service.mail_intake import MailIntake
from engine.service.people import ensure_user
from engine.store.files import FileStore
from tests.infrastructure import INCIDENT, MAJOR, PACK, PEOPLE, Clock
from tests.letters import BASE_URL, DEFAULTS, DESK, OUR_SENDER
from web.cli.inbound import listener
from web.cli.stack import free_port

__all__ = ["INCIDENT", "MAJOR", "PACK", "PEOPLE", "Clock"]


@pytest.fixture
def files(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "files")


@pytest.fixture
def mail(commands: Commands, files: FileStore) -> MailIntake:
    """The intake, with addresses for alice, bob (an agent) and rita, and the desk's mailbox."""
    with commands.database.writer_session() as session, session.begin():
        ensure_user(session, "alice", commands.clock(), email="Alice@Example.org")
        ensure_user(session, "bob", commands.clock(), email="bob@example.org")
        ensure_user(
            session, "rita", commands.clock(), email="rita@example.org", roles=["requester"]
        )
    Catalogue(commands).save_service(
        "email", {"name": "E-mail", "start_data": {}}, actor=None, create=True
    )
    intake = MailIntake(commands, files, own_addresses=[OUR_SENDER], base_url=BASE_URL)
    intake.save_mailbox(DESK, "it-incident", service_key="email", defaults=DEFAULTS)
    return intake


@pytest.fixture
def smtp_listener(mail: MailIntake) -> Iterator[int]:
    """The port of a real SMTP listener on loopback, feeding the intake."""
    port = free_port()
    controller = listener(mail, port)
    yield port
    controller.stop()
