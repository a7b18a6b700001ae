"""The browser designers: pages, their JSON API and their ES modules (DESIGN.md §1, §9).

The form designer (`pages`, `api`) and the workflow designer (`workflow_pages`,
`workflows_api`, `simulation_api`) are one studio. It talks to storage only through the
engine's service layer, and never imports `web`.
"""

from __future__ import annotations

from flask import Flask

from designer import api, pages, simulation_api, workflow_pages, workflows_api


def init_app(app: Flask) -> None:
    """Register the designers' pages and APIs."""
    pages.init_app(app)
    api.init_app(app)
    workflow_pages.init_app(app)
    workflows_api.init_app(app)
    simulation_api.init_app(app)
