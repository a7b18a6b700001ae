"""Mail: subject and body rendered from Jinja2 templates that ship with Flowdesk, sent by SMTP."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, TemplateError, TemplateNotFound
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine.jobs.errors import PermanentFailure, TemporaryFailure
from engine.settings import RelaySettings

#: Where `<key>.subject.txt` and `<key>.body.txt` live.
TEMPLATES = Path(__file__).with_name("templates")


@lru_cache(maxsize=4)
def environment(folder: Path = TEMPLATES) -> ImmutableSandboxedEnvironment:
    """The sandbox mail templates render in: plain text, so no HTML escaping.

    A field the instance does not have renders as nothing: a mail is still worth sending.
    """
    return ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(folder),
        autoescape=False,
        keep_trailing_newline=True,
    )


def render(template: str, context: Mapping[str, Any], folder: Path = TEMPLATES) -> tuple[str, str]:
    """Return the subject and body of the mail `template` for `context`."""
    env = environment(folder)
    try:
        subject = env.get_template(f"{template}.subject.txt").render(context)
        body = env.get_template(f"{template}.body.txt").render(context)
    except TemplateNotFound:
        # The folder stays out of the reason: it is shown on the instance, to agents.
        raise PermanentFailure(
            f"there is no mail template '{template}' (looked for {template}.subject.txt "
            f"and {template}.body.txt)"
        ) from None
    except TemplateError as error:
        raise PermanentFailure(
            f"the mail template '{template}' cannot be rendered: {error}"
        ) from None
    # A subject is one line: a template's stray newline must not start the body early.
    return " ".join(subject.split()), body


def message_id(outbox_id: int, sender: str) -> str:
    """The `Message-ID` of an outbox entry's mail: the same on every attempt."""
    domain = sender.rpartition("@")[2] or "flowdesk.invalid"
    return f"<flowdesk-outbox-{outbox_id}@{domain.strip('<> ')}>"


def compose(
    outbox_id: int, to: Sequence[str], subject: str, body: str, settings: RelaySettings
) -> EmailMessage:
    """Build the mail; its `Message-ID` comes from the outbox id, so a repeat is recognisable."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id(outbox_id, settings.smtp_from)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    message["X-Flowdesk-Outbox"] = str(outbox_id)
    message.set_content(body)
    return message


def send(message: EmailMessage, settings: RelaySettings) -> None:
    """Hand `message` to the SMTP server; raise a `DeliveryError` saying whether to retry."""
    try:
        with smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_s
        ) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        text = "; ".join(
            f"{who}: {code} {_text(why)}" for who, (code, why) in error.recipients.items()
        )
        if all(code >= 500 for code in codes):
            raise PermanentFailure(f"the mail server refused every recipient: {text}") from None
        raise TemporaryFailure(f"the mail server refused the recipients for now: {text}") from None
    except smtplib.SMTPDataError as error:
        failure = PermanentFailure if error.smtp_code >= 500 else TemporaryFailure
        raise failure(
            f"the mail server refused the message: {error.smtp_code} {_text(error.smtp_error)}"
        ) from None
    except smtplib.SMTPResponseException as error:
        # Sender refused, authentication failed...: the relay's setup, not this message, is
        # at fault, so the message waits until the setup is fixed.
        raise TemporaryFailure(
            f"the mail server answered {error.smtp_code} {_text(error.smtp_error)}"
        ) from None
    except (smtplib.SMTPException, OSError) as error:
        where = f"{settings.smtp_host}:{settings.smtp_port}"
        raise TemporaryFailure(f"cannot reach the mail server at {where}: {error}") from None


def _text(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else raw
