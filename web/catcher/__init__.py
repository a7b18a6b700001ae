"""The mail catcher of the embedded stack: an SMTP server on loopback that keeps every mail.

`flowdesk up` starts it (`python -m web.catcher`) when no mail server is configured
(`FLOWDESK_SMTP_HOST` unset), and points its worker at it, so notification mail works
out of the box and goes nowhere: each message lands in a Maildir in the instance folder
(`instance/mail/new/`), readable by any mail client, and admins read what was sent on
the outbox page. It listens on a loopback address only, and refuses mails over
`CATCHER_MAX_BYTES`. See docs/adr/0049-notifications-are-rows-the-bell-polls-mail-is-caught.md.
"""

from __future__ import annotations

import mailbox
import signal
import threading
from pathlib import Path
from typing import Any

import click
from aiosmtpd.controller import Controller

from engine.settings import CATCHER_HOST, CATCHER_MAX_BYTES


class Keeper:
    """An aiosmtpd handler that adds each mail it receives to a Maildir."""

    def __init__(self, folder: Path) -> None:
        self.box = mailbox.Maildir(folder, create=True)
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        recipients = ", ".join(envelope.rcpt_tos)
        # Who the envelope named (Bcc included), as the receiving server would record it.
        header = f"X-Flowdesk-Envelope-To: {recipients}\r\n".encode()
        with self._lock:
            self.box.add(header + raw)
        return "250 Message accepted for delivery"


def catcher(folder: Path, port: int, host: str = CATCHER_HOST) -> Controller:
    """A started catcher on `host:port` keeping mail in the Maildir `folder`; stop() it."""
    controller = Controller(
        Keeper(folder), hostname=host, port=port, data_size_limit=CATCHER_MAX_BYTES
    )
    controller.start()
    return controller


@click.command()
@click.option("--port", type=int, required=True)
@click.option("--maildir", type=click.Path(file_okay=False, path_type=Path), required=True)
def main(port: int, maildir: Path) -> None:
    """Catch mail on the loopback address until SIGTERM or Ctrl-C."""
    stopped = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    controller = catcher(maildir, port)
    try:
        stopped.wait()
    finally:
        controller.stop()
