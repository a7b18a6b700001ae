"""IMAP polling: the unread mail of a real mailbox, into the mail intake, every `IMAP_EVERY_S`.

The worker polls when `FLOWDESK_IMAP_HOST` is set. Each unread mail is fetched without
marking it (`BODY.PEEK[]`), handed to `MailIntake.receive`, and marked `\\Seen` only once
the intake has committed what it made of it: a worker that dies in between leaves it
unread, the next poll takes it again, and the intake knows it by its Message-ID, so
nothing is lost and nothing is opened twice. Mail the intake drops or refuses is marked
read too (its record says why); only a fault of ours (the database busy) leaves it unread.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.service.commands import Commands
from engine.service.errors import ServiceError
from engine.service.mail_intake import MailIntake, Receipt, configured
from engine.settings import IMAP_BATCH, SettingsError
from engine.store.files import FileStore

log = logging.getLogger(__name__)

#: Seconds an IMAP conversation may wait on the server before the poll gives up.
IMAP_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class ImapSettings:
    """Where the mailbox is, how to sign in, and which Flowdesk mailbox its mail is for."""

    host: str
    port: int
    user: str
    password: str
    mailbox: str
    folder: str = "INBOX"
    ssl: bool = True


def imap_settings(environ: Mapping[str, str] | None = None) -> ImapSettings | None:
    """Read the `FLOWDESK_IMAP_*` variables; None when `FLOWDESK_IMAP_HOST` is unset."""
    env = os.environ if environ is None else environ
    host = env.get("FLOWDESK_IMAP_HOST", "").strip()
    if not host:
        return None
    missing = [
        name
        for name in ("FLOWDESK_IMAP_USER", "FLOWDESK_IMAP_PASSWORD", "FLOWDESK_IMAP_MAILBOX")
        if not env.get(name)
    ]
    if missing:
        raise SettingsError(f"FLOWDESK_IMAP_HOST is set, but not {', '.join(missing)}")
    use_ssl = env.get("FLOWDESK_IMAP_SSL", "1").strip().lower() not in ("0", "false", "no", "off")
    raw_port = env.get("FLOWDESK_IMAP_PORT") or ("993" if use_ssl else "143")
    try:
        port = int(raw_port)
    except ValueError:
        raise SettingsError(f"FLOWDESK_IMAP_PORT={raw_port!r} is not a port number") from None
    return ImapSettings(
        host=host,
        port=port,
        user=env["FLOWDESK_IMAP_USER"],
        password=env["FLOWDESK_IMAP_PASSWORD"],
        mailbox=env["FLOWDESK_IMAP_MAILBOX"].strip().lower(),
        folder=env.get("FLOWDESK_IMAP_FOLDER") or "INBOX",
        ssl=use_ssl,
    )


def intake(commands: Commands, environ: Mapping[str, str] | None = None) -> MailIntake:
    """The intake the worker polls into: files in the web app's upload folder.

    `FLOWDESK_UPLOAD_FOLDER`, else `files/` in the instance folder, as the web app and
    the command line find it.
    """
    env = os.environ if environ is None else environ
    folder = env.get("FLOWDESK_UPLOAD_FOLDER") or (
        Path(env.get("FLOWDESK_INSTANCE_PATH", "instance")).resolve() / "files"
    )
    return configured(commands, FileStore(folder), env)


def poll(mail: MailIntake, settings: ImapSettings, *, batch: int = IMAP_BATCH) -> list[Receipt]:
    """Take up to `batch` unread mails of the mailbox; return what became of each."""
    kind = imaplib.IMAP4_SSL if settings.ssl else imaplib.IMAP4
    client = kind(settings.host, settings.port, timeout=IMAP_TIMEOUT_S)
    receipts = []
    try:
        client.login(settings.user, settings.password)
        client.select(_quoted(settings.folder))
        _status, found = client.uid("SEARCH", "UNSEEN")
        uids = [uid.decode() for uid in (found[0] or b"").split()[:batch]]
        for uid in uids:
            raw = _fetch(client, uid)
            if raw is None:
                continue
            try:
                receipt = mail.receive(raw, recipients=[settings.mailbox], source="imap")
            except ServiceError as error:
                if error.code in ("busy", "unavailable"):
                    break  # ours to fix: the mail stays unread for the next poll
                log.warning("mail %s refused: %s", uid, error.message)
                receipt = Receipt("refused", error.message)
            except Exception:
                # Ours to fix too; it stays unread, and the mails after it are still taken.
                log.exception("mail %s could not be taken; it stays unread", uid)
                continue
            client.uid("STORE", uid, "+FLAGS", "(\\Seen)")
            receipts.append(receipt)
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            client.logout()
    return receipts


def _fetch(client: imaplib.IMAP4, uid: str) -> bytes | None:
    _status, parts = client.uid("FETCH", uid, "(BODY.PEEK[])")
    for part in parts:
        if isinstance(part, tuple) and len(part) == 2 and isinstance(part[1], bytes):
            return part[1]
    return None


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
