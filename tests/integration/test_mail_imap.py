"""IMAP polling through the real `imaplib`, against a tiny IMAP4rev1 server at the edge."""

from __future__ import annotations

import re
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.jobs.imap import ImapSettings, imap_settings, intake, poll
from engine.service.commands import Commands
from engine.service.mail_intake import MailIntake
from engine.settings import SettingsError
from engine.store.instances import Instance
from tests.letters import DEFAULTS, DESK, letter, postfix_bounce
from web.cli.stack import free_port

USER, PASSWORD = "desk", "s3cret"


@dataclass
class Folder:
    """The stub's one folder: mails by UID, and which of them are read."""

    mails: dict[int, bytes] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)


class _Session(socketserver.StreamRequestHandler):
    """Just enough IMAP4rev1 (RFC 3501) for imaplib: LOGIN, SELECT, UID SEARCH/FETCH/STORE."""

    folder: Folder

    def send(self, line: str | bytes) -> None:
        self.wfile.write((line.encode() if isinstance(line, str) else line) + b"\r\n")

    def handle(self) -> None:
        self.send("* OK IMAP4rev1 stub ready")
        while line := self.rfile.readline():
            tag, _, rest = line.decode().strip().partition(" ")
            command, _, args = rest.partition(" ")
            command = command.upper()
            if command == "CAPABILITY":
                self.send("* CAPABILITY IMAP4rev1 AUTH=PLAIN")
            elif command == "LOGIN":
                if args.split() != [USER, f'"{PASSWORD}"'] and args.split() != [USER, PASSWORD]:
                    self.send(f"{tag} NO [AUTHENTICATIONFAILED] wrong password")
                    continue
            elif command == "SELECT":
                self.send(f"* {len(self.folder.mails)} EXISTS")
                self.send(f"{tag} OK [READ-WRITE] SELECT completed")
                continue
            elif command == "UID":
                self.uid(tag, args)
                continue
            elif command == "LOGOUT":
                self.send("* BYE stub logging out")
                self.send(f"{tag} OK LOGOUT completed")
                return
            else:
                self.send(f"{tag} BAD unknown command")
                continue
            self.send(f"{tag} OK {command} completed")

    def uid(self, tag: str, args: str) -> None:
        verb, _, rest = args.partition(" ")
        verb = verb.upper()
        if verb == "SEARCH":
            unseen = [uid for uid in sorted(self.folder.mails) if uid not in self.folder.seen]
            self.send("* SEARCH " + " ".join(map(str, unseen)))
        elif verb == "FETCH":
            uid = int(rest.split()[0])
            raw = self.folder.mails[uid]
            self.send(f"* {uid} FETCH (UID {uid} BODY[] {{{len(raw)}}}".encode())
            self.wfile.write(raw)
            self.send(")")
        elif verb == "STORE":
            uid = int(rest.split()[0])
            if re.search(r"\\Seen", rest):
                self.folder.seen.add(uid)
            self.send(f"* {uid} FETCH (UID {uid} FLAGS (\\Seen))")
        self.send(f"{tag} OK UID {verb} completed")


@pytest.fixture
def folder() -> Iterator[tuple[Folder, int]]:
    held = Folder()
    handler = type("Session", (_Session,), {"folder": held})
    port = free_port()
    server = socketserver.ThreadingTCPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield held, port
    server.shutdown()
    server.server_close()


@pytest.fixture
def mail(commands: Commands, tmp_path: Path) -> MailIntake:
    environ = {"FLOWDESK_UPLOAD_FOLDER": str(tmp_path / "files")}
    found = intake(commands, environ)
    found.save_mailbox(DESK, "it-incident", defaults=DEFAULTS)
    return found


def settings(port: int, password: str = PASSWORD) -> ImapSettings:
    return ImapSettings("127.0.0.1", port, USER, password, DESK, ssl=False)


def instances(commands: Commands) -> int:
    with commands.database.reading() as session:
        return int(session.scalar(select(func.count()).select_from(Instance)) or 0)


def test_a_poll_takes_the_unread_mail_once_and_marks_it_read(
    folder: tuple[Folder, int], mail: MailIntake, commands: Commands
) -> None:
    held, port = folder
    # The mail was sent to an alias: the mailbox the IMAP account feeds is what counts.
    held.mails = {
        1: letter(to="helpdesk-alias@example.org"),
        2: postfix_bounce(),
        3: letter(subject="Second problem"),
    }
    held.seen = {3}  # someone read it in their mail program: not ours to take
    receipts = poll(mail, settings(port))
    assert [r.outcome for r in receipts] == ["opened", "dropped"]
    assert held.seen == {1, 2, 3}
    assert instances(commands) == 1
    assert poll(mail, settings(port)) == []


def test_a_mail_taken_but_not_marked_read_opens_nothing_twice(
    folder: tuple[Folder, int], mail: MailIntake, commands: Commands
) -> None:
    """A worker that died between the commit and the STORE leaves the mail unread."""
    held, port = folder
    held.mails = {7: letter()}
    poll(mail, settings(port))
    held.seen.clear()
    (again,) = poll(mail, settings(port))
    assert again.repeated
    assert instances(commands) == 1


def test_a_wrong_password_is_an_error_and_takes_nothing(
    folder: tuple[Folder, int], mail: MailIntake, commands: Commands
) -> None:
    held, port = folder
    held.mails = {1: letter()}
    with pytest.raises(Exception, match="wrong password"):
        poll(mail, settings(port, "nope"))
    assert held.seen == set()
    assert instances(commands) == 0


def test_imap_settings_name_what_is_missing() -> None:
    assert imap_settings({}) is None
    with pytest.raises(SettingsError, match="FLOWDESK_IMAP_PASSWORD, FLOWDESK_IMAP_MAILBOX"):
        imap_settings({"FLOWDESK_IMAP_HOST": "imap.example.org", "FLOWDESK_IMAP_USER": "u"})
    read = imap_settings(
        {
            "FLOWDESK_IMAP_HOST": "imap.example.org",
            "FLOWDESK_IMAP_USER": "u",
            "FLOWDESK_IMAP_PASSWORD": "p",
            "FLOWDESK_IMAP_MAILBOX": "Desk@Example.org",
        }
    )
    assert read == ImapSettings("imap.example.org", 993, "u", "p", "desk@example.org")
