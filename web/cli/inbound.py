"""The inbound SMTP listener: mail to a Flowdesk mailbox, straight into the mail intake.

An aiosmtpd server. At `RCPT TO` it accepts only the addresses of active mailboxes
(550 for any other, so nothing relays through it); at `DATA` it hands the bytes to
`MailIntake.receive` and answers 250 whatever became of the mail (a dropped auto-reply
is accepted too: refusing it would only send a bounce back), or 451 when Flowdesk
itself failed, so the sending server tries again later.

`flowdesk up` starts it when `FLOWDESK_MAIL_IN_PORT` is set (`python -m web.cli.inbound`);
in production, point the MX's transport for the mailbox domain at it, or use IMAP.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from functools import partial
from typing import Any

import click
from aiosmtpd.controller import Controller

from engine.service.errors import ServiceError
from engine.service.mail_intake import MailIntake
from engine.settings import MAIL_IN_HOST, MAIL_IN_MAX_BYTES

log = logging.getLogger(__name__)


class Intake:
    """An aiosmtpd handler over the mail intake."""

    def __init__(self, mail: MailIntake) -> None:
        self.mail = mail
        # The service is synchronous; one mail at a time keeps SQLite's writers in turn.
        self._lock = threading.Lock()

    def _run(self, work: Any) -> Any:
        with self._lock:
            return work()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        loop = asyncio.get_running_loop()
        known = await loop.run_in_executor(None, self._run, partial(self.mail.accepts, address))
        if not known:
            return f"550 5.1.1 There is no mailbox at {address}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        receive = partial(
            self.mail.receive,
            raw,
            recipients=envelope.rcpt_tos,
            source="smtp",
            envelope_sender=envelope.mail_from or "",
        )
        loop = asyncio.get_running_loop()
        try:
            receipt = await loop.run_in_executor(None, self._run, receive)
        except ServiceError as error:
            if error.code in ("busy", "unavailable"):
                return "451 4.3.0 Flowdesk is busy; try again later"
            return f"554 5.6.0 {error.message}"
        except Exception:
            log.exception("the mail intake failed")
            return "451 4.3.0 Flowdesk could not take the mail; try again later"
        log.info("mail from %s: %s (%s)", envelope.mail_from, receipt.outcome, receipt.reason)
        return "250 2.0.0 Message accepted"


def listener(mail: MailIntake, port: int, host: str = MAIL_IN_HOST) -> Controller:
    """A started listener on `host:port` feeding `mail`; stop() it."""
    controller = Controller(
        Intake(mail), hostname=host, port=port, data_size_limit=MAIL_IN_MAX_BYTES
    )
    controller.start()
    return controller


@click.command()
@click.option("--port", type=int, required=True)
@click.option("--host", default=MAIL_IN_HOST, show_default=True)
def main(port: int, host: str) -> None:
    """Take mail for Flowdesk's mailboxes until SIGTERM or Ctrl-C."""
    from engine.service.bootstrap import Services
    from web.cli.mail_in import intake

    stopped = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    services = Services.for_instance()
    services.migrate()
    controller = listener(intake(services), port, host)
    try:
        stopped.wait()
    finally:
        controller.stop()
        services.close()


if __name__ == "__main__":
    main()
