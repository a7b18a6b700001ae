"""A list of instances as CSV, line by line, safe to open in a spreadsheet.

Every door exports the same columns (`COLUMNS`), read page by page through the finder,
so an export of 100,000 rows holds no more than a page in memory. A cell that a
spreadsheet would take for a formula (starting with =, +, -, @, a tab or a carriage
return) is written with a leading apostrophe, so opening the file runs nothing (OWASP's
advice on CSV injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime

from engine.service.finder import ListItem

COLUMNS = (
    "Number",
    "Title",
    "Workflow",
    "Status",
    "Priority",
    "Requester",
    "Service",
    "Held by",
    "Steps",
    "SLA",
    "SLA due (UTC)",
    "Created (UTC)",
    "Updated (UTC)",
    "Ended (UTC)",
)
#: What a spreadsheet reads as the start of a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """Write a value as a cell no spreadsheet runs as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_START) else text


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def _row(item: ListItem, now: datetime) -> list[str]:
    values: list[object] = [
        item.number,
        item.title,
        item.workflow,
        item.status,
        item.priority,
        item.requester,
        item.service,
        ", ".join(item.holders),
        ", ".join(item.steps),
        item.sla_state(now),
        _time(item.sla_due_at),
        _time(item.started_at),
        _time(item.updated_at),
        _time(item.ended_at),
    ]
    return [safe_cell(value) for value in values]


def csv_lines(items: Iterable[ListItem], now: datetime) -> Iterator[str]:
    """Yield the CSV of a list: a header line, then one line per instance (CRLF ended)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    yield buffer.getvalue()
    for item in items:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(_row(item, now))
        yield buffer.getvalue()
