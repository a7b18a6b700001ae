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
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.files import FileStore
from engine.store.instances import Attachment

if TYPE_CHECKING:
    from engine.service.shell import Shell

#: Files younger than this are left alone: their request may still be running.
MIN_AGE = timedelta(hours=1)
#: How many file keys one query looks up.
BATCH = 500


def orphans(shell: Shell, store: FileStore, now: datetime, age: timedelta) -> Iterator[Path]:
    """Yield each file older than `age` (at least MIN_AGE) that no attachment records.

    Each batch of file keys is looked up in one read of its own.
    """
    cutoff = now - max(age, MIN_AGE)
    batch: list[Path] = []
    for path in store.older_than(cutoff):
        batch.append(path)
        if len(batch) == BATCH:
            yield from _unrecorded(shell, batch)
            batch = []
    yield from _unrecorded(shell, batch)


def _unrecorded(shell: Shell, paths: list[Path]) -> list[Path]:
    # A partly written file (`<key>.part`) is never recorded: its writer died mid-copy.
    keys = [path.name for path in paths if path.suffix != ".part"]
    if not keys:
        return paths
    recorded = shell.read(lambda session: _recorded(session, keys))
    return [path for path in paths if path.name not in recorded]


def _recorded(session: Session, keys: list[str]) -> set[str]:
    query = select(Attachment.storage_key).where(Attachment.storage_key.in_(keys))
    return set(session.scalars(query))
