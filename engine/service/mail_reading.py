"""Reading one received mail: who sent it, its subject, its text, its files, and what it answers.

Pure: bytes in, values out, no database and no clock. The standard library's `email`
package reads the RFC 5322 bytes (`policy.default`, so headers come decoded). What the
intake does with a letter is `engine.service.mail_intake`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses
from html.parser import HTMLParser

#: A number in a subject, in brackets as our mails put it: "Re: [INC-000042] Printer".
BRACKETED = re.compile(r"\[([A-Z][A-Z0-9]{0,9}-\d{1,12})\]")
#: A bare number counts only in a reply ("Re: We received your request INC-000042: ...").
BARE = re.compile(r"\b([A-Z][A-Z0-9]{0,9}-\d{1,12})\b")
#: How mail programs mark an answer or a forward, in several languages.
REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|vs|odp|rif|r)\s*(\[\d+\])?\s*:\s*)+", re.I)
#: Where the quoted mail below an answer begins (Gmail, Apple Mail, Thunderbird, Outlook).
QUOTE_STARTS = (
    re.compile(r"^\s*On .{1,200}wrote:\s*$", re.I),
    re.compile(r"^\s*Am .{1,200}schrieb .{0,200}:\s*$", re.I),
    re.compile(r"^\s*Le .{1,200}a écrit\s*:\s*$", re.I),
    re.compile(r"^\s*-{2,}\s*Original Message\s*-{2,}\s*$", re.I),
    re.compile(r"^\s*_{10,}\s*$"),
    re.compile(r"^\s*From:\s.+$"),
)
#: Local parts of the addresses delivery reports come from.
BOUNCERS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})
#: Text that no database keeps faithfully; a mail's tabs and newlines stay.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Enclosure:
    """A file a mail carried."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class Letter:
    """What the intake needs of one mail."""

    message_id: str
    sender: str
    sender_name: str
    subject: str
    text: str
    answers: tuple[str, ...]
    enclosures: tuple[Enclosure, ...]
    size: int

    @property
    def is_reply(self) -> bool:
        return bool(REPLY_PREFIX.match(self.subject))

    def numbers(self) -> list[str]:
        """The instance numbers the subject names: bracketed ones, or any in a reply."""
        found = BRACKETED.findall(self.subject)
        if not found and self.is_reply:
            found = BARE.findall(self.subject)
        return list(dict.fromkeys(found))


def parse(raw: bytes) -> EmailMessage:
    """Read RFC 5322 bytes as a message, headers decoded."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)  # policy.default makes EmailMessages
    return message


def read_letter(message: EmailMessage, raw: bytes) -> Letter:
    """Return the letter in a parsed message; `raw` is its bytes (for its size and id)."""
    name, sender = _sender(message)
    message_id = _header(message, "Message-ID").strip()
    if not message_id:
        # Without an id, the same bytes received twice still count as one mail.
        message_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    answers = _ids(_header(message, "In-Reply-To")) + _ids(_header(message, "References"))
    return Letter(
        message_id=message_id[:255],
        sender=sender,
        sender_name=name,
        subject=clean(" ".join(_header(message, "Subject").split())),
        text=clean(body_text(message)),
        answers=tuple(dict.fromkeys(answers)),
        enclosures=tuple(enclosures(message)),
        size=len(raw),
    )


def _header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError, AttributeError):  # a header too broken to read
        return ""
    return str(value) if value is not None else ""


def _sender(message: EmailMessage) -> tuple[str, str]:
    pairs = getaddresses([_header(message, "From")])
    for name, address in pairs:
        if "@" in address:
            return clean(name).strip(), address.strip().lower()
    return "", ""


def _ids(value: str) -> list[str]:
    return re.findall(r"<[^<>\s]+>", value)


def clean(text: str) -> str:
    """Text as the database keeps it: newlines as \\n, no other control characters."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def body_text(message: EmailMessage) -> str:
    """The mail's text: its plain part, else its HTML part read as text."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset: read what can be read
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    return html_text(content) if part.get_content_type() == "text/html" else content


def enclosures(message: EmailMessage) -> list[Enclosure]:
    """The files a mail carries: its attachments, and inline parts with a file name."""
    found = []
    for part in message.iter_attachments():
        if not isinstance(part, EmailMessage):
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            content = payload
        elif part.get_content_type() == "message/rfc822":
            content = part.as_bytes()
        else:
            continue
        filename = clean(part.get_filename() or "") or _default_name(part.get_content_type())
        found.append(Enclosure(filename[:255], part.get_content_type()[:120], content))
    return found


def _default_name(content_type: str) -> str:
    return "message.eml" if content_type == "message/rfc822" else "attachment"


class _Text(HTMLParser):
    """The text of an HTML body: paragraphs and line breaks kept, scripts and styles left out."""

    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head", "title"):
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head", "title"):
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.out.append(re.sub(r"\s+", " ", data))


def html_text(page: str) -> str:
    """Read an HTML body as plain text."""
    reader = _Text()
    reader.feed(page)
    reader.close()
    lines = [" ".join(line.split()) for line in "".join(reader.out).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def reply_text(text: str) -> str:
    """The new words of an answer: everything above the quoted mail it answers."""
    kept: list[str] = []
    for line in text.split("\n"):
        if any(pattern.match(line) for pattern in QUOTE_STARTS):
            break
        kept.append(line)
    while kept and (not kept[-1].strip() or kept[-1].lstrip().startswith(">")):
        kept.pop()
    # Interleaved answers keep their own lines; the quoted ones go.
    return "\n".join(line for line in kept if not line.lstrip().startswith(">")).strip()


def automatic(message: EmailMessage, sender: str, own: frozenset[str]) -> str | None:
    """Say why a mail was sent by a machine, not a person (None: a person wrote it).

    Auto-replies (RFC 3834 `Auto-Submitted`, Exchange and others' `X-Autoreply`),
    bulk and list mail (`Precedence`), loops (`X-Loop` naming us, mail from one of our
    own addresses) and delivery reports (bounces) are all dropped, never answered.
    """
    local = sender.partition("@")[0]
    if local in BOUNCERS or message.get_content_type() == "multipart/report":
        return "a delivery report (bounce)"
    if not sender:
        return "no sender address (a bounce, or a broken From)"
    auto = _header(message, "Auto-Submitted").strip().lower()
    if auto and not auto.startswith("no"):
        return f"an automatic reply (Auto-Submitted: {auto})"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autogenerated", "X-Auto-Reply"):
        if _header(message, name):
            return f"an automatic reply ({name})"
    if _header(message, "X-MS-Exchange-Generated-Message-Source") or _header(
        message, "X-MS-Exchange-Inbox-Rules-Loop"
    ):
        return "an automatic reply generated by Exchange"
    precedence = _header(message, "Precedence").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"bulk or list mail (Precedence: {precedence})"
    loop = _header(message, "X-Loop").lower()
    if loop and (any(address in loop for address in own) or "flowdesk" in loop):
        return f"a mail loop (X-Loop: {loop.strip()})"
    if "flowdesk-outbox-" in _header(message, "Message-ID"):
        return "a mail loop: one of Flowdesk's own mails came back"
    if sender in own:
        return f"a mail loop: it comes from Flowdesk's own address {sender}"
    return None
