"""What a kept file is called and what it holds, whichever door brought it (a form's upload,
a mail's attachment): a name without a path or control characters, and a type told by
its first bytes, never by what the sender declared."""

from __future__ import annotations

import mimetypes
import unicodedata

import filetype


def sniff(head: bytes, name: str) -> str:
    """Tell a file's type by its first bytes; plain text formats by their name."""
    kind = filetype.guess_mime(head) if head else None
    if kind:
        return str(kind)
    guessed = mimetypes.guess_type(name)[0]
    if guessed and guessed.startswith("text/") and _looks_like_text(head):
        return guessed
    return "application/octet-stream"


def _looks_like_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return len(head) >= 500  # cut in the middle of a character at the 512-byte mark
    return b"\x00" not in head


def safe_filename(name: str) -> str:
    """Keep a file's name readable, without paths or control characters (a right-to-left
    override that shows `invoice.pdf\u202egnp.exe` as "invoice.pdfexe.png" included)."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip().lstrip(".")
    return name[:200] or "file"
