"""Orphaned uploads: files on disk that no attachment points to, long after their request.

A file is written before the transaction that records it commits (`engine.store.files`),
so a process that dies in between leaves a file nothing points to and nothing serves.
`orphans` finds them; only files older than any request could take are considered, so
an upload in progress is never one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from engine.store.database import Database
from engine.store.files import FileStore
from engine.store.instances import Attachment

#: Files younger than this are left alone: their request may still be running.
MIN_AGE = timedelta(hours=1)
#: How many file keys one query looks up.
BATCH = 500


def orphans(database: Database, store: FileStore, now: datetime, age: timedelta) -> Iterator[Path]:
    """Yield each file older than `age` (at least MIN_AGE) that no attachment records."""
    cutoff = now - max(age, MIN_AGE)
    batch: list[Path] = []
    for path in store.older_than(cutoff):
        batch.append(path)
        if len(batch) == BATCH:
            yield from _unrecorded(database, batch)
            batch = []
    yield from _unrecorded(database, batch)


def _unrecorded(database: Database, paths: list[Path]) -> list[Path]:
    # A partly written file (`<key>.part`) is never recorded: its writer died mid-copy.
    keys = [path.name for path in paths if path.suffix != ".part"]
    if not keys:
        return paths
    with database.reading() as session:
        recorded = set(
            session.scalars(select(Attachment.storage_key).where(Attachment.storage_key.in_(keys)))
        )
    return [path for path in paths if path.name not in recorded]
