"""The browser designers: pages, their JSON API and their ES modules (DESIGN.md §1).

Talks to storage only through the engine's service layer, and never imports `web`.
"""

from __future__ import annotations

from flask import Flask

from designer import api, pages


def init_app(app: Flask) -> None:
    """Register the designer's pages and API."""
    pages.init_app(app)
    api.init_app(app)
