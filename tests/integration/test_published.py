"""What the web processes read of what is published: kept a few seconds, never longer."""

from __future__ import annotations

import json

import pytest

from engine.service.definitions import publish_document
from engine.service.errors import NotFound
from engine.service.published import Published
from engine.settings import LATEST_REFRESH_S
from engine.store.database import Database
from tests.infrastructure import PACK
from tests.integration.conftest import Clock


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def publish_public(database: Database, clock: Clock, key: str) -> None:
    shipped = json.loads((PACK / "it-incident.json").read_text())
    with database.writer_session() as session, session.begin():
        publish_document(session, "workflow", {**shipped, "key": key, "title": key}, clock(), "d")


def test_a_new_public_workflow_reaches_the_portals_list_within_the_refresh_time(
    database: Database, clock: Clock
) -> None:
    """The list is made of the workflow list and each workflow's latest version, each kept
    for the refresh time: kept as long again itself, it lagged up to twice that."""
    ticks = Ticks()
    published = Published(database, clock=ticks)
    published.workflows()  # an inbox page reads the workflow list at 0
    ticks.now = LATEST_REFRESH_S - 0.1
    published.public_forms()  # the portal's home, made of that list
    ticks.now = LATEST_REFRESH_S + 0.1
    publish_public(database, clock, "new-public")

    ticks.now = 2 * LATEST_REFRESH_S - 0.2  # past the list's own refresh time
    assert "new-public" in {key for key, _, _ in published.public_forms()}


def test_a_key_not_published_is_not_kept_so_it_is_found_as_soon_as_it_is(
    database: Database, clock: Clock
) -> None:
    """Anyone may ask for /new/<anything>: each unknown key kept would grow every web process
    for good (and a workflow published under a key just asked for waited out the refresh)."""
    ticks = Ticks()
    published = Published(database, clock=ticks)
    for n in range(50):
        with pytest.raises(NotFound):
            published.workflow(f"nothing-{n}")
    with pytest.raises(NotFound):
        published.workflow("soon")
    publish_public(database, clock, "soon")
    assert published.workflow("soon").key == "soon"
