"""Email addresses: exactly one per email field, checked strictly, refused in plain words.

An email field holds one address, `name@example.org`, and nothing around it: no display
name (`Ann <ann@example.org>`), no list, no spaces, no line breaks (a line break in an
address that reaches a mail header is how mail headers get injected). The address itself is
checked by `email-validator` (RFC 5322 and 6531 syntax, internationalised domains), with
the DNS look-ups off: validation never touches the network.
"""

from __future__ import annotations

from functools import lru_cache

#: What an email answer should look like, said to the requester.
EMAIL_EXAMPLE = "Enter an email address like name@example.org"

#: The longest address mail can carry (RFC 5321's 256-character path, less its brackets).
MAX_ADDRESS_LENGTH = 254


#: How many addresses `email-validator`'s verdicts are remembered for: the same few come
#: again and again (a requester's, the desk's), and it takes most of a millisecond each.
REMEMBERED = 4096


def address_problem(text: str) -> str | None:
    """Say in the requester's words why a text is not one email address; None if it is."""
    if "@" in text:
        # Something like an address with more around it; the most telling mistake first:
        # "Ann <ann@example.org>" has a space too.
        if "<" in text or ">" in text:
            return "Enter the email address alone, without a name or angle brackets"
        if text.count("@") > 1 or "," in text or ";" in text:
            return "Enter one email address only"
        if any(c.isspace() for c in text):
            return "Enter the email address alone, with no spaces or line breaks"
    if len(text) > MAX_ADDRESS_LENGTH:
        return f"Enter an email address of at most {MAX_ADDRESS_LENGTH} characters"
    # Only texts of an address's length get this far, so what is remembered stays small.
    return EMAIL_EXAMPLE if not _valid(text) else None


@lru_cache(maxsize=REMEMBERED)
def _valid(text: str) -> bool:
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(text, check_deliverability=False)
    except (EmailNotValidError, UnicodeError):  # a lone surrogate cannot even be encoded
        return False
    return True


def is_address(text: object) -> bool:
    """Tell whether a value is one email address (JSON Schema's `email` format, strictly)."""
    return not isinstance(text, str) or address_problem(text) is None
