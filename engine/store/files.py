"""Uploaded files: the bytes live in a folder, the database keeps what they are.

A file is written under a fresh random key before the transaction that records it
commits; if that transaction never commits, the file is an orphan that nothing
points to (and nothing serves), never a record without its bytes.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

CHUNK = 64 * 1024


class FileTooLarge(Exception):
    """The file is over the limit; nothing of it was kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is larger than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True, slots=True)
class StoredFile:
    """Bytes safely on disk under `key`."""

    key: str
    size: int
    sha256: str
    head: bytes  # the first bytes, to tell the file's real type


class FileStore:
    """A folder of uploaded files, each under a random key spread over 256 subfolders."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        if len(key) != 32 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"not a file key: {key!r}")
        return self.root / key[:2] / key

    def put(self, stream: BinaryIO, *, limit: int) -> StoredFile:
        """Copy a stream to disk, refusing (and keeping nothing) past `limit` bytes."""
        key = secrets.token_hex(16)
        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        partial = final.with_suffix(".part")
        digest = hashlib.sha256()
        size = 0
        head = b""
        try:
            with open(partial, "wb") as out:
                for chunk in _chunks(stream):
                    size += len(chunk)
                    if size > limit:
                        raise FileTooLarge(limit)
                    if len(head) < 512:
                        head += chunk[: 512 - len(head)]
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, final)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return StoredFile(key, size, digest.hexdigest(), head)

    def open(self, key: str) -> BinaryIO:
        return open(self.path(key), "rb")

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def older_than(self, cutoff: datetime) -> Iterator[Path]:
        """Every file in the store (kept, or partly written) last changed before `cutoff`."""
        if not self.root.is_dir():
            return
        before = cutoff.timestamp()
        for folder in sorted(self.root.iterdir()):
            if len(folder.name) != 2 or not folder.is_dir():
                continue  # not one of the store's 256 subfolders
            for path in sorted(folder.iterdir()):
                if path.is_file() and path.stat().st_mtime < before:
                    yield path


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk
