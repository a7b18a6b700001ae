"""URL rules' converters: a number in a path is written in ASCII digits, and nothing else.

Werkzeug's `int` converter matches `\\d+`, which in Python's regular expressions takes any
Unicode digit, and `int()` reads them: `/api/v1/tasks/` with the full-width digits one and
two (U+FF11 U+FF12) reached task 12, and so did the Arabic-Indic ones. One resource has one
address; the others are 404.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import IntegerConverter


class AsciiIntegerConverter(IntegerConverter):
    """`<int:...>` as Werkzeug's, of the digits 0-9 only."""

    regex = r"[0-9]+"


def init_app(app: Flask) -> None:
    """Make `<int:...>` ASCII-only for every rule; call before any blueprint is registered."""
    app.url_map.converters["int"] = AsciiIntegerConverter
