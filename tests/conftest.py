"""Fixtures shared by every test: the shipped pack, read once, as the runtime sees it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.catalog import Catalog
from engine.core.calendars import Calendar
from engine.core.definition import Workflow

#: Real databases, Redis and the service over them, for the integration and web suites.
pytest_plugins = ["tests.infrastructure"]

ROOT = Path(__file__).resolve().parents[1]
PACK = ROOT / "workflows"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked `long` first, the rest in their order: run in several processes, a
    long test collected late ran alone at the end while the other processes were done."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The shipped pack as documents."""
    return Catalog.read([PACK])


@pytest.fixture(scope="session")
def workflows(catalog: Catalog) -> Mapping[str, Workflow]:
    """The shipped workflows by key, ready to run."""
    return {d.key: Workflow.from_document(d.content) for d in catalog.of_kind("workflow") if d.key}


@pytest.fixture(scope="session")
def calendars(catalog: Catalog) -> Mapping[str, Calendar]:
    """The shipped business calendars by key."""
    return {d.key: Calendar.from_document(d.content) for d in catalog.of_kind("calendar") if d.key}


@pytest.fixture
def monday_morning() -> datetime:
    """A working Monday, 09:00 in Amsterdam (08:00 UTC)."""
    return datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
