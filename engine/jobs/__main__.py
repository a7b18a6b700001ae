"""`python -m engine.jobs`: run a worker (timers, outbox relay, periodic jobs) without Flask.

It needs a database URL (`FLOWDESK_DATABASE_URL`, or the SQLite file in the instance
folder, as the web app finds it) and a Redis URL (`REDIS_URL`), and nothing of the web
app: no Flask, no werkzeug, nothing under `web` or `designer` is imported. The database
is brought up to the newest migration first, as `flowdesk worker` does.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from engine.jobs.worker import run
from engine.settings import DEFAULT_REDIS_URL, SettingsError
from engine.store.database import Database, default_url

#: How the worker's own log lines look (RQ's go through the same handler).
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def parser() -> argparse.ArgumentParser:
    """The command line of `python -m engine.jobs`."""
    found = argparse.ArgumentParser(
        prog="python -m engine.jobs",
        description="Run a Flowdesk worker: timed steps, the outbox relay (mail, webhooks) "
        "and the periodic sweeps, on RQ. The database is FLOWDESK_DATABASE_URL, or a SQLite "
        "file in the instance folder (FLOWDESK_INSTANCE_PATH, ./instance by default).",
    )
    found.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    found.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL,
        help=f"the Redis that holds the queued jobs (REDIS_URL; default {DEFAULT_REDIS_URL})",
    )
    # No --database-url: a password on a command line is there for `ps` to show.
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Migrate the database, then work until stopped (SIGTERM, Ctrl-C) or, with --burst, done."""
    arguments = parser().parse_args(argv)
    # Until RQ's worker takes over SIGTERM (once it works), a stop request unwinds the
    # start-up, closing what it opened, rather than killing the process where it stands.
    signal.signal(signal.SIGTERM, _stop)
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    url = default_url()
    database = Database(url)
    try:
        database.migrate()
    finally:
        database.dispose()
    try:
        run(url, arguments.redis_url, burst=arguments.burst)
    except SettingsError as error:
        print(f"python -m engine.jobs: {error}", file=sys.stderr)
        return 2
    return 0


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())
