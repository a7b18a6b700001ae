"""Mail: subject and body rendered from a workflow's own messages or from the Jinja2 templates
that ship with Flowdesk, sent by SMTP.

Every mail is `multipart/alternative`: the plain text of `<key>.body.txt`, and an HTML
part from `<key>.body.html` when the template has one, else the same text as HTML
(paragraphs kept, addresses made links). The relay keeps each mail as it rendered it
(`keep`), so admins can read what went out, and what failed, on the outbox page.
"""

from __future__ import annotations

import html
import re
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, TemplateError, TemplateNotFound
from jinja2.sandbox import ImmutableSandboxedEnvironment
from sqlalchemy import Connection, delete, insert

from engine.core.errors import ExpressionError
from engine.core.expressions import compile_template
from engine.jobs.errors import PermanentFailure, TemporaryFailure
from engine.settings import RelaySettings
from engine.store.notifications import SentMail

#: Where `<key>.subject.txt`, `<key>.body.txt` and (optional) `<key>.body.html` live.
TEMPLATES = Path(__file__).with_name("templates")
#: An address in a text body, made a link in its HTML part.
URL = re.compile(r"https?://[^\s<>\"']+")


@dataclass(frozen=True, slots=True)
class Rendered:
    """A mail's subject and its two bodies."""

    subject: str
    text: str
    html: str


@lru_cache(maxsize=4)
def html_environment(folder: Path = TEMPLATES) -> ImmutableSandboxedEnvironment:
    """The sandbox HTML bodies render in: every value escaped."""
    return ImmutableSandboxedEnvironment(loader=FileSystemLoader(folder), autoescape=True)


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


def render_mail(template: str, context: Mapping[str, Any], folder: Path = TEMPLATES) -> Rendered:
    """Return the subject, plain text and HTML of the mail `template` for `context`."""
    subject, text = render(template, context, folder)
    try:
        page = html_environment(folder).get_template(f"{template}.body.html")
    except TemplateNotFound:
        return Rendered(subject, text, as_html(subject, text))
    try:
        return Rendered(subject, text, page.render({**context, "subject": subject}))
    except TemplateError as error:
        raise PermanentFailure(
            f"the mail template '{template}' cannot be rendered as HTML: {error}"
        ) from None


def render_own(key: str, message: Mapping[str, Any], context: Mapping[str, Any]) -> Rendered:
    """Return the subject, plain text and HTML of a workflow's own message `key`.

    Its subject and body are workflow templates: the sandbox, the limits and the checks of
    titles hold (docs/workflow-language.md §17), so a message cannot do at delivery what
    the checker refused at publishing.
    """
    try:
        subject = compile_template(message["subject"])(context)
        text = compile_template(message["body"])(context)
    except (ExpressionError, KeyError, TypeError) as error:
        raise PermanentFailure(
            f"the workflow's message '{key}' cannot be rendered: {error}"
        ) from None
    subject = " ".join(subject.split())
    return Rendered(subject, text, as_html(subject, text))


def as_html(subject: str, text: str) -> str:
    """A plain-text body as a small HTML page: its paragraphs, lines and links kept."""
    paragraphs = [part for part in re.split(r"\n\s*\n", text.strip()) if part.strip()]
    blocks = "\n".join(f"<p>{_linked(part).replace(chr(10), '<br>')}</p>" for part in paragraphs)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head>\n"
        '<body style="font-family: sans-serif; line-height: 1.5; max-width: 40em">\n'
        f"{blocks}\n</body></html>\n"
    )


def _linked(text: str) -> str:
    """Escape text and make each address in it a link."""
    out, last = [], 0
    for found in URL.finditer(text):
        address = found.group(0).rstrip(".,;:)")
        end = found.start() + len(address)
        out.append(html.escape(text[last : found.start()]))
        out.append(f'<a href="{html.escape(address)}">{html.escape(address)}</a>')
        last = end
    out.append(html.escape(text[last:]))
    return "".join(out)


def message_id(outbox_id: int, sender: str) -> str:
    """The `Message-ID` of an outbox entry's mail: the same on every attempt."""
    domain = sender.rpartition("@")[2] or "flowdesk.invalid"
    return f"<flowdesk-outbox-{outbox_id}@{domain.strip('<> ')}>"


def compose(
    outbox_id: int,
    to: Sequence[str],
    subject: str,
    body: str,
    settings: RelaySettings,
    html_body: str | None = None,
) -> EmailMessage:
    """Build the mail; its `Message-ID` comes from the outbox id, so a repeat is recognisable.

    With `html_body`, the mail is `multipart/alternative`: the text first, then the HTML.
    """
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id(outbox_id, settings.smtp_from)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    message["X-Flowdesk-Outbox"] = str(outbox_id)
    message.set_content(body)
    if html_body is not None:
        message.add_alternative(html_body, subtype="html")
    return message


def keep(connection: Connection, outbox_id: int, message: EmailMessage, at: datetime) -> None:
    """Keep the mail an outbox entry made, as rendered now (replacing an earlier attempt's),
    in the caller's transaction: the one that records how the attempt went."""
    text_part = message.get_body(("plain",))
    html_part = message.get_body(("html",))
    text = text_part.get_content() if text_part is not None else ""
    page = html_part.get_content() if html_part is not None else ""
    row = {
        "outbox_id": outbox_id,
        "recipients": [part.strip() for part in str(message["To"] or "").split(",") if part],
        "subject": str(message["Subject"] or "")[:998],
        "text_body": text,
        "html_body": page,
        "message_id": str(message["Message-ID"] or "")[:255],
        "rendered_at": at,
    }
    connection.execute(delete(SentMail).where(SentMail.outbox_id == outbox_id))
    connection.execute(insert(SentMail).values(row))


class MailServer:
    """The SMTP server, for one run of the relay: a connection opened at the first mail and
    kept for the next ones, closed (QUIT) at the end of the run.

    A connection for each mail cost the TCP handshake, the greeting, EHLO and QUIT (and, with
    most providers, STARTTLS and a login) for every message. A mail that fails in any way
    closes the connection, and the next one opens another; a kept connection that the server
    has closed meanwhile (an idle timeout) is opened again for the same mail, once.
    """

    def __init__(self, settings: RelaySettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> MailServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def send(self, message: EmailMessage) -> None:
        """Hand `message` to the SMTP server; raise a `DeliveryError` saying whether to retry."""
        try:
            try:
                kept = self._smtp is not None
                self._connection().send_message(message)
            except (smtplib.SMTPServerDisconnected, ConnectionError):
                if not kept:
                    raise
                self.close()  # the server let the kept connection go: a fresh one, once
                self._connection().send_message(message)
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        """Say QUIT, if a connection is open; a server already gone is no matter."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            settings = self.settings
            smtp = smtplib.SMTP(
                settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_s
            )
            try:
                if settings.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if settings.smtp_user:
                    smtp.login(settings.smtp_user, settings.smtp_password or "")
            except BaseException:
                smtp.close()
                raise
            self._smtp = smtp
        return self._smtp


def send(message: EmailMessage, server: MailServer) -> None:
    """Hand `message` to the SMTP server; raise a `DeliveryError` saying whether to retry."""
    settings = server.settings
    try:
        server.send(message)
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
