"""`python -m engine.jobs`: run a worker (timers, outbox relay, periodic jobs) without Flask.

It needs a database URL (`FLOWDESK_DATABASE_URL`, or the SQLite file in the instance
folder, as the web app finds it) and a Redis URL (`REDIS_URL`), and nothing of the web
app: no Flask, no werkzeug, nothing under `web` or `designer` is imported. The database
is brought up to the newest migration first, as `flowdesk worker` does, in a child
process, so that Alembic never weighs on the worker's memory.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType

from engine import logs
from engine.jobs.worker import WorkerStopped, run
from engine.settings import DEFAULT_REDIS_URL, EXIT_TEMPFAIL, SettingsError
from engine.store.database import default_url

#: The worker logs warnings and worse unless `FLOWDESK_LOG_LEVEL` says otherwise.
LOG_LEVEL = logging.WARNING


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
        default=None,
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
    try:  # text or JSON lines (FLOWDESK_LOG_FORMAT); RQ's go through the same handler
        logs.configure(
            os.environ.get("FLOWDESK_LOG_FORMAT"), os.environ.get("FLOWDESK_LOG_LEVEL") or LOG_LEVEL
        )
    except logs.LoggingError as error:
        print(f"python -m engine.jobs: {error}", file=sys.stderr)
        return 2
    redis_url = arguments.redis_url or os.environ.get("REDIS_URL") or _default_redis()
    url = default_url()
    migrated = migrate_apart(url)
    if migrated == EXIT_TEMPFAIL:
        return EXIT_TEMPFAIL  # the database does not answer: said by the child; try later
    if migrated != 0:
        print("python -m engine.jobs: the database could not be migrated", file=sys.stderr)
        return 2
    try:
        run(url, redis_url, burst=arguments.burst)
    except SettingsError as error:
        print(f"python -m engine.jobs: {error}", file=sys.stderr)
        return 2
    except WorkerStopped as error:
        print(f"python -m engine.jobs: {error}", file=sys.stderr)
        return 1
    return 0


def _default_redis() -> str:
    """The Redis of a worker told of none, said once at start: a worker on another Redis
    than the web app's waits for jobs that never come, and said nothing of it."""
    logging.getLogger("engine.jobs").warning(
        "REDIS_URL is not set: this worker takes its jobs from the default Redis, %s; "
        "set REDIS_URL to the Redis the web app uses",
        DEFAULT_REDIS_URL,
    )
    return DEFAULT_REDIS_URL


#: Migrates the database of `FLOWDESK_DATABASE_URL`, in a process of its own.
MIGRATE = f"""
import sys
from sqlalchemy.exc import InterfaceError, OperationalError
from engine.store.database import Database, SchemaAhead, default_url
database = Database(default_url())
try:
    database.migrate()
except SchemaAhead as error:
    print(f"python -m engine.jobs: {{error}}", file=sys.stderr)
    sys.exit(2)
except (InterfaceError, OperationalError) as error:
    said = str(getattr(error, "orig", error)).strip().splitlines()[0][:200]
    # Only a server that does not answer (yet) is waited for: no SQLSTATE (no connection
    # made), class 08 (connection exceptions), 57P01-57P03 (shutting down, starting up).
    # A wrong password (28...), a database that does not exist (3D000), a SQLite file
    # that cannot be opened, a migration's own error: broken, not late.
    # psycopg gives no SQLSTATE for a refused connection: its words tell the broken cases.
    state = getattr(getattr(error, "orig", None), "sqlstate", None)
    words = str(error).lower()
    broken = ("does not exist", "authentication failed", "pg_hba.conf", "permission denied")
    late = (
        not database.is_sqlite
        and (state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03"))
        and not any(word in words for word in broken)
    )
    if not late:
        raise
    print(f"python -m engine.jobs: the database does not answer ({{said}}); "
          "the worker stops, to be started again", file=sys.stderr)
    sys.exit({EXIT_TEMPFAIL})
finally:
    database.dispose()
"""


def migrate_apart(url: str) -> int:
    """Bring the database up to the newest migration in a child process; return its exit code.

    Alembic, with the Mako and Pygments it imports, is needed once, at start-up: imported
    here it would stay in the worker's memory for good (about 11 MB of some 80). The URL
    goes by the environment, not the command line, where `ps` would show its password.
    """
    env = {**os.environ, "FLOWDESK_DATABASE_URL": url}
    return subprocess.run([sys.executable, "-c", MIGRATE], env=env, check=False).returncode


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())
