"""Reading one received mail: who sent it, its subject, its text, its files, and what it answers.

Pure: bytes in, values out, no database and no clock. The standard library's `email`
package reads the RFC 5322 bytes (`policy.default`, so headers come decoded). What the
intake does with a letter is `engine.service.mail_intake`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
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
    # Outlook's header block, in its languages: From, Von, De, Da, Van, Från, Fra, Od...
    re.compile(r"^\s*(From|Von|De|Da|Van|Från|Fra|Od|Lähettäjä|От)\s?:\s.+$"),
)
#: Gmail's "On Mon, ... <x@y.org>" with its "wrote:" wrapped onto the next line.
QUOTE_WRAPPED = (re.compile(r"^\s*On .{1,200}$", re.I), re.compile(r"^.{0,200}wrote:\s*$", re.I))
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
    #: Whom it was written to (To and Cc), lower case.
    recipients: tuple[str, ...] = ()

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
    """Return the letter in a parsed message; `raw` is its bytes (for its size and id).

    Whatever its structure, a mail is read: a part too broken to read (a multipart whose
    boundary is not the one declared, a truncated mail) is passed over, never raised.
    """
    name, sender = _sender(message)
    body = body_part(message)
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
        text=clean(body_text(body)),
        answers=tuple(dict.fromkeys(answers)),
        enclosures=tuple(enclosures(message, body)),
        size=len(raw),
        recipients=tuple(addressed(message, ("to", "cc"))),
    )


def addressed(message: Message, headers: Sequence[str]) -> list[str]:
    """The addresses the named headers (lower case) hold, header by header in that order,
    lower case: read from their raw text, so a header the standard library's parser
    cannot read (it raises) still names its addresses."""
    values = [
        str(value) for name in headers for key, value in message.raw_items() if key.lower() == name
    ]
    return [a.strip().lower() for _n, a in getaddresses(values) if "@" in a]


def unreadable_letter(raw: bytes) -> Letter:
    """What is known of bytes that cannot be read as a mail: their size and digest."""
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    return Letter(digest, "", "", "", "", (), (), len(raw))


def _header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError, AttributeError):  # a header too broken to read
        return ""
    return str(value) if value is not None else ""


def _sender(message: EmailMessage) -> tuple[str, str]:
    """The one mailbox a mail is from (its name, its address), or ("", "") when its From
    does not name one for sure: none, several, or an address in the name's place.

    `bob@example.org <mallory@evil.example>` is read by the standard library as from
    bob@example.org, while the receiving server's SPF and DMARC checks judged the address
    in angle brackets, the sender's own: the address taken must be the one in brackets.
    """
    raw = [str(value) for name, value in message.raw_items() if name.lower() == "from"]
    if len(raw) != 1:
        return "", ""
    try:
        found = [a for a in message["From"].addresses if "@" in (a.addr_spec or "")]
    except (ValueError, IndexError, AttributeError, TypeError):  # a From too broken to read
        return "", ""
    bracketed = _BRACKETED.findall(raw[0])
    if len(found) != 1 or (bracketed and bracketed[-1].lower() != found[0].addr_spec.lower()):
        return "", ""
    name = clean(_utf8(found[0].display_name)).strip()
    # A name that reads as an address ("bob@example.org" <mallory@...>) is no name to show.
    return ("" if "@" in name else name), found[0].addr_spec.strip().lower()


#: An address in angle brackets, as a From's raw text holds it.
_BRACKETED = re.compile(r"<\s*([^<>\s@]+@[^<>\s]+?)\s*>")


def _utf8(text: str) -> str:
    """Text read from a header's raw UTF-8 bytes (RFC 6532), which the parser keeps as
    escapes, in its own letters: "Müller", not "M\\udcc3\\udcbcller"."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _ids(value: str) -> list[str]:
    return re.findall(r"<[^<>\s]+>", value)


def clean(text: str) -> str:
    """Text as the database keeps it: newlines as \\n, no other control characters.

    Mail labelled ISO-8859-1 is most often Windows-1252 (its dashes, curly quotes and euro
    sign sit where ISO-8859-1 has control characters), so those are read as Windows-1252
    reads them, as browsers do (the WHATWG Encoding Standard): "€ 100", not " 100".
    """
    text = text.translate(_WINDOWS_1252)
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


#: The C1 control characters ISO-8859-1 decodes 0x80-0x9F to, as Windows-1252 reads them.
_WINDOWS_1252 = {
    code: bytes([code]).decode("cp1252")
    for code in range(0x80, 0xA0)
    if bytes([code]).decode("cp1252", "ignore")
}


#: What a broken structure may raise as the standard library walks it.
_BROKEN = (AttributeError, IndexError, KeyError, LookupError, TypeError, ValueError)
#: The parts that sign a mail (S/MIME): no file anyone attached.
SIGNATURES = frozenset(
    {"application/pkcs7-signature", "application/x-pkcs7-signature", "application/pgp-signature"}
)


def body_part(message: EmailMessage) -> Message | None:
    """The part holding the mail's text: its plain part, else its HTML part (None: none).

    A structure the standard library cannot walk (it raises) is searched part by part: the
    first plain text there, else the first HTML."""
    found: Message | None
    try:
        found = message.get_body(preferencelist=("plain", "html"))
    except _BROKEN:
        found = None
        leaves = [p for p in _leaves(message) if p.get_content_maintype() == "text"]
        for kind in ("text/plain", "text/html"):
            for part in leaves:
                if found is None and part.get_content_type() == kind and not part.get_filename():
                    found = part
    # A multipart whose boundary is not the one it declares is one text: better read raw
    # than not at all.
    return found if found is not None else next(_unsplit(message), None)


def _unsplit(message: Message) -> Iterator[Message]:
    for part in message.walk():
        if part.get_content_maintype() == "multipart" and isinstance(part.get_payload(), str):
            yield part


def body_text(part: Message | None) -> str:
    """The text of a mail's body part, HTML read as text."""
    if part is None:
        return ""
    try:
        content = part.get_content() if isinstance(part, EmailMessage) else None
    except (LookupError, ValueError):  # an unknown charset: read what can be read
        content = None
    if not isinstance(content, str):
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            content = payload.decode("utf-8", "replace")
        else:
            raw = part.get_payload()
            content = raw if isinstance(raw, str) else ""
    return html_text(content) if part.get_content_type() == "text/html" else content


def enclosures(message: EmailMessage, body: Message | None = None) -> list[Enclosure]:
    """The files a mail carries, however deep: attachments, inline images (a pasted
    screenshot), files inside a signed or related part; not its body, nor the alternative
    texts of its body, nor a signature."""
    found = []
    for part in _leaves(message):
        if part is body:
            continue
        try:
            enclosure = _enclosure(part)
        except _BROKEN:  # headers too broken to read: no file to keep
            continue
        if enclosure is not None:
            found.append(enclosure)
    return found


def _enclosure(part: Message) -> Enclosure | None:
    kind = part.get_content_type()
    if kind in SIGNATURES:
        return None
    filename = clean(part.get_filename() or "")
    named = filename or part.get_content_disposition() == "attachment"
    if not named and part.get_content_maintype() == "text":
        return None  # another form of the text (the HTML beside the plain), not a file
    if kind == "message/rfc822":
        content = part.as_bytes()
    else:
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            return None
        content = payload
    return Enclosure((filename or _default_name(kind))[:255], kind[:120], content)


def _leaves(message: Message) -> list[Message]:
    """Every part of a mail that holds content, in order; a mail attached whole is one part
    (its own parts are its own), and a multipart too broken to split holds none."""
    leaves: list[Message] = []
    pending = [message]
    while pending:
        part = pending.pop()
        if part.get_content_maintype() == "multipart":
            inner = part.get_payload()
            if isinstance(inner, list):
                pending.extend(reversed([p for p in inner if isinstance(p, Message)]))
            continue
        leaves.append(part)
    return leaves


def _default_name(content_type: str) -> str:
    """A name for a file sent without one: `message.eml`, `image.png`, `attachment`."""
    if content_type == "message/rfc822":
        return "message.eml"
    if content_type.startswith("image/") and content_type[6:].isalnum():
        return f"image.{content_type[6:]}"
    return "attachment"


class _Text(HTMLParser):
    """The text of an HTML body: paragraphs and line breaks kept, scripts and styles left out."""

    BLOCKS = frozenset(
        {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "blockquote", "pre", "table"}
    )
    HIDDEN = frozenset({"script", "style", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self.skipping += 1
        elif tag == "body":
            self.skipping = 0  # a <title> or <style> left open above the body hides none of it
        elif tag in self.BLOCKS:
            self.out.append("\n")
        if tag == "pre":
            self.pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS:
            self.out.append("\n")
        elif tag in ("td", "th"):
            self.out.append(" ")  # cells side by side: "Host srv01", not "Hostsrv01"
        if tag == "pre":
            self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            # A <pre> (a log, a stack trace) keeps its lines.
            self.out.append(data if self.pre else re.sub(r"\s+", " ", data))


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
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if any(pattern.match(line) for pattern in QUOTE_STARTS):
            break
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if QUOTE_WRAPPED[0].match(line) and QUOTE_WRAPPED[1].match(following):
            break
        kept.append(line)
    while kept and (not kept[-1].strip() or kept[-1].lstrip().startswith(">")):
        kept.pop()
    # Interleaved answers keep their own lines; the quoted ones go.
    return "\n".join(line for line in kept if not line.lstrip().startswith(">")).strip()


#: How automatic replies without an RFC 3834 header begin their subject, in several languages.
AUTO_REPLY_SUBJECT = re.compile(
    r"^(automatic reply|auto(matic)?[- ]?(response|reply)|autoreply|auto"
    r"|out of (the )?office( auto-?reply)?|automatische antwort|abwesenheitsnotiz|abwesend"
    r"|réponse automatique|risposta automatica|respuesta automática|fuera de la oficina"
    r"|resposta automática|automatisch antwoord|afwezig|automatiskt svar|autosvar"
    r"|automaattinen vastaus|odpowiedź automatyczna)\s*:",
    re.I,
)


def _own_group(message: EmailMessage) -> bool:
    """Tell whether list mail comes from a group the mail was sent to (a Google Group or a
    mailing list that forwards to the desk): its `List-Id` is one of its addressees', as
    `<it-help.example.com>` is it-help@example.com's. A person wrote it to the desk."""
    listed = re.search(r"<([^<>\s]+)>", _header(message, "List-Id"))
    if not listed:
        return False
    ids = {a.replace("@", ".") for a in addressed(message, ("to", "cc", "delivered-to"))}
    return listed.group(1).lower() in ids


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
        return (
            "no one sender's address (a bounce, or a From naming none, several, or an address "
            "in the name's place)"
        )
    if _header(message, "Return-Path").strip() == "<>":
        return "an empty envelope sender (Return-Path: <>): a bounce or an automatic reply"
    auto = _header(message, "Auto-Submitted").strip().lower()
    if auto and not auto.startswith("no"):
        return f"an automatic reply (Auto-Submitted: {auto})"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autogenerated", "X-Auto-Reply"):
        if _header(message, name):
            return f"an automatic reply ({name})"
    subject = " ".join(_header(message, "Subject").split())
    if AUTO_REPLY_SUBJECT.match(subject):
        return f"an automatic reply (its subject: {subject[:80]})"
    # Exchange stamps these on mail an inbox rule forwards as well as on its automatic
    # replies (which say so in Auto-Submitted or their subject): alone they tell nothing.
    group = _own_group(message)
    precedence = _header(message, "Precedence").strip().lower()
    if precedence in ("bulk", "junk", "auto_reply") or (precedence == "list" and not group):
        return f"bulk or list mail (Precedence: {precedence})"
    if _header(message, "List-Unsubscribe") and not group:
        return "bulk mail (a newsletter: List-Unsubscribe)"
    loop = _header(message, "X-Loop").lower()
    if loop and (any(address in loop for address in own) or "flowdesk" in loop):
        return f"a mail loop (X-Loop: {loop.strip()})"
    if "flowdesk-outbox-" in _header(message, "Message-ID"):
        return "a mail loop: one of Flowdesk's own mails came back"
    if sender in own:
        return f"a mail loop: it comes from Flowdesk's own address {sender}"
    return None
