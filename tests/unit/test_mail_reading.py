"""Reading a mail: answers without their quotes, HTML as text, numbers in subjects, machines."""

from __future__ import annotations

import pytest

from engine.service.mail_reading import automatic, html_text, parse, read_letter, reply_text
from tests.letters import DESK, letter, postfix_bounce

OWN = frozenset({DESK})


@pytest.mark.parametrize(
    "text",
    [
        "Works now, thanks!\n\nOn Mon, 23 Nov 2026 at 09:12, Flowdesk <d@x.org> wrote:\n> old",
        "Works now, thanks!\n\n-----Original Message-----\nFrom: Flowdesk\nSent: Monday",
        "Works now, thanks!\n\n________________________________\nFrom: Flowdesk <d@x.org>",
        "Works now, thanks!\n\nAm 23.11.2026 um 09:12 schrieb Flowdesk <d@x.org>:\n> alt",
        "Works now, thanks!\n> We received your request\n> INC-000001",
    ],
    ids=["gmail", "outlook", "outlook-web", "german", "bare-quote"],
)
def test_an_answer_keeps_only_its_new_words(text: str) -> None:
    assert reply_text(text) == "Works now, thanks!"


def test_interleaved_answers_keep_their_own_lines() -> None:
    text = "> Is it plugged in?\nYes.\n> Did you restart it?\nTwice."
    assert reply_text(text) == "Yes.\nTwice."


def test_html_reads_as_paragraphs_of_words() -> None:
    page = "<div>Hello<br>there</div><p>A &lt;b&gt; tag &amp; more</p><style>x{}</style>"
    assert html_text(page) == "Hello\nthere\n\nA <b> tag & more"


@pytest.mark.parametrize(
    ("subject", "numbers"),
    [
        ("Re: [INC-000042] Printer", ["INC-000042"]),
        ("AW: Re: We received your request INC-000042: Printer", ["INC-000042"]),
        ("Same as INC-000042", []),  # a new mail that mentions a number is a new mail
        ("Fwd: [REQ-000001] and [INC-000002]", ["REQ-000001", "INC-000002"]),
    ],
)
def test_numbers_are_read_from_brackets_and_from_replies(subject: str, numbers: list[str]) -> None:
    raw = letter(subject=subject)
    assert read_letter(parse(raw), raw).numbers() == numbers


def test_a_mail_without_a_message_id_is_known_by_its_bytes() -> None:
    raw = b"From: a@example.org\r\nTo: desk@flowdesk.example\r\nSubject: hi\r\n\r\nbody\r\n"
    first = read_letter(parse(raw), raw)
    assert first.message_id.startswith("sha256:")
    assert read_letter(parse(raw), raw).message_id == first.message_id


def test_a_person_is_no_machine_and_a_bounce_is() -> None:
    assert automatic(parse(letter()), "alice@example.org", OWN) is None
    no = letter(headers={"Auto-Submitted": "no"})
    assert automatic(parse(no), "alice@example.org", OWN) is None
    bounce = parse(postfix_bounce())
    assert automatic(bounce, "mailer-daemon@mail.example.org", OWN) == "a delivery report (bounce)"


def test_control_characters_in_a_mail_never_reach_the_data() -> None:
    raw = letter(subject="Bell\x07 rings", text="Line one\r\nNull\x00 here\x1b[31m")
    read = read_letter(parse(raw), raw)
    assert read.subject == "Bell rings"
    assert read.text.rstrip() == "Line one\nNull here[31m"


@pytest.mark.parametrize(
    ("sender", "read"),
    [
        ("Bob <bob@example.org>", ("Bob", "bob@example.org")),
        ("bob@example.org", ("", "bob@example.org")),
        ("Bob <Bob@Example.org> (work)", ("Bob", "bob@example.org")),
        # From mallory, whatever the name says; a name that reads as an address is not shown.
        ('"bob@example.org" <mallory@evil.example>', ("", "mallory@evil.example")),
        ("=?utf-8?q?M=C3=BCller=2C_Hans?= <h@example.de>", ("Müller, Hans", "h@example.de")),
        ("bob@example.org <mallory@evil.example>", ("", "")),  # read as bob's by the library
        ("Bob <bob@example.org>\r\n <mallory@evil.example>", ("", "")),
        ("a@example.org, b@example.org", ("", "")),
        ("undisclosed-recipients:;", ("", "")),
    ],
)
def test_a_mail_is_from_the_one_address_in_brackets_or_from_nobody(
    sender: str, read: tuple[str, str]
) -> None:
    raw = f"From: {sender}\r\nTo: d@x.org\r\nSubject: hi\r\n\r\nbody\r\n".encode()
    found = read_letter(parse(raw), raw)
    assert (found.sender_name, found.sender) == read


def test_a_name_in_raw_utf8_keeps_its_letters() -> None:
    raw = "From: Chloé Dubois <c@example.net>\r\nSubject: hi\r\n\r\nbody\r\n".encode()
    assert read_letter(parse(raw), raw).sender_name == "Chloé Dubois"


@pytest.mark.parametrize(
    ("subject", "automatic_reply"),
    [
        ("Automatic reply: We received your request INC-000002", True),
        ("Out of Office AutoReply: Printer", True),
        ("Abwesenheitsnotiz: Drucker", True),
        ("Réponse automatique : Imprimante", True),
        ("Auto-renewal of the licence failed", False),
        ("Printer out of office hours", False),
    ],
)
def test_an_automatic_reply_is_known_by_its_subject_too(
    subject: str, automatic_reply: bool
) -> None:
    said = automatic(parse(letter(subject=subject)), "alice@example.org", OWN)
    assert (said is not None) == automatic_reply


@pytest.mark.parametrize(
    "text",
    [
        "Works now!\n\nOn Mon, Dec 7, 2026 at 11:15 PM Service Desk <desk@x.org>\nwrote:\n> old",
        "Works now!\n\nVon: Service Desk <desk@x.org>\nGesendet: Montag, 7. Dezember 2026",
        "Works now!\n\nDe : Service Desk <desk@x.org>\nEnvoyé : lundi 7 décembre 2026",
    ],
    ids=["gmail-wrapped", "outlook-german", "outlook-french"],
)
def test_the_quote_below_an_answer_goes_in_other_clients_and_languages_too(text: str) -> None:
    """The quoted confirmation holds the requester's tracking link: left in, it became a
    public comment every agent could read."""
    assert reply_text(text) == "Works now!"


def test_html_keeps_a_logs_lines_a_tables_cells_apart_and_a_body_after_an_open_title() -> None:
    page = (
        "<html><head><title>Ticket<body><p>Hello</p>"
        "<table><tr><td>Host</td><td>srv01</td></tr></table>"
        "<pre>line one\n  line two</pre>"
    )
    assert html_text(page) == "Hello\n\nHost srv01\n\nline one\nline two"


def test_text_labelled_latin_1_reads_windows_1252_punctuation() -> None:
    subject = "=?iso-8859-1?Q?Drucker_druckt_nicht_=96_dringend?="
    raw = f"From: a@example.org\r\nSubject: {subject}\r\n\r\ncosts =80 100\r\n".encode()
    raw = raw.replace(b"\r\n\r\n", b"\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
                      b"Content-Transfer-Encoding: quoted-printable\r\n\r\n")  # fmt: skip
    found = read_letter(parse(raw), raw)
    assert found.subject == "Drucker druckt nicht \u2013 dringend"
    assert found.text.strip() == "costs \u20ac 100"


def test_a_file_without_a_name_or_a_mail_attached_inline_is_still_kept() -> None:
    """Only another form of the body's text goes unkept: a PDF sent with no name, and a
    mail forwarded as an inline attachment (as mutt does), are files all the same."""
    raw = (
        b"From: a@example.org\r\nTo: d@x.org\r\nSubject: hi\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nSee both.\r\n"
        b"--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"JVBERi0xLjQK\r\n"
        b"--b\r\nContent-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n"
        b"From: x@example.org\r\nSubject: forwarded\r\n\r\nold words\r\n"
        b"--b--\r\n"
    )
    found = read_letter(parse(raw), raw)
    assert [(e.filename, e.content_type) for e in found.enclosures] == [
        ("attachment", "application/pdf"),
        ("message.eml", "message/rfc822"),
    ]
    assert found.text.strip() == "See both."
