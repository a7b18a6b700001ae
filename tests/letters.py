"""Mails as mail programs and servers write them: real RFC 5322 bytes for the intake tests."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid

DESK = "desk@flowdesk.example"
OUR_SENDER = "flowdesk@flowdesk.example"
BASE_URL = "https://desk.example.org"
#: What the incident report needs besides what a mail says.
DEFAULTS = {"category": "other", "impact": "low", "urgency": "medium"}


def letter(
    sender: str = "Alice Example <alice@example.org>",
    subject: str = "The printer on floor 3 is jammed",
    text: str | None = "It blinks red.\r\nSince this morning.",
    *,
    html: str | None = None,
    files: tuple[tuple[str, str, bytes], ...] = (),
    headers: dict[str, str] | None = None,
    to: str = DESK,
) -> bytes:
    """A mail as a mail program writes it: real RFC 5322 bytes."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain="example.org")
    for name, value in (headers or {}).items():
        message[name] = value
    if text is not None:
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
    elif html is not None:
        message.set_content(html, subtype="html")
    for filename, content_type, content in files:
        maintype, subtype = content_type.split("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def postfix_bounce() -> bytes:
    """A delivery report as Postfix writes one (RFC 3464), abridged."""
    return (
        "Return-Path: <>\r\n"
        "From: MAILER-DAEMON@mail.example.org (Mail Delivery System)\r\n"
        f"To: {DESK}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "Message-Id: <20261123091200.4A1B2@mail.example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status;\r\n"
        '\tboundary="4A1B2.1764000000/mail.example.org"\r\n'
        "\r\n"
        "--4A1B2.1764000000/mail.example.org\r\n"
        "Content-Description: Notification\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "This is the mail system at host mail.example.org.\r\n"
        "I'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients.\r\n"
        "\r\n"
        "--4A1B2.1764000000/mail.example.org\r\n"
        "Content-Description: Delivery report\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mail.example.org\r\n"
        "\r\n"
        "Final-Recipient: rfc822; gone@example.org\r\n"
        "Action: failed\r\n"
        "Status: 5.1.1\r\n"
        "\r\n"
        "--4A1B2.1764000000/mail.example.org--\r\n"
    ).encode()
