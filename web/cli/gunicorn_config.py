"""gunicorn's configuration for `flowdesk up --web N`: hooks that tell `up` who is ready.

gunicorn loads it with `-c python:web.cli.gunicorn_config`. Each web process, once it
has built the app, leaves a file named after its pid in `FLOWDESK_READY_FOLDER`, and
takes it away when it exits: `up` is ready when every process has left one and
`/health` answers, and names the processes it waits for when one never does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def _marker(pid: int) -> Path | None:
    folder = os.environ.get("FLOWDESK_READY_FOLDER")
    return Path(folder) / str(pid) if folder else None


def post_worker_init(worker: Any) -> None:
    """Say this web process has built the app and takes requests."""
    marker = _marker(worker.pid)
    if marker is not None:
        marker.touch()


def child_exit(server: Any, worker: Any) -> None:
    """Take back the word of a web process that has exited (run by the master: a killed
    process cannot do it itself)."""
    marker = _marker(worker.pid)
    if marker is not None:
        marker.unlink(missing_ok=True)
