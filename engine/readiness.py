"""Is the deployment ready to work? The database, its migrations, Redis and the workers.

`readiness` answers for `GET /ready`: each part "ok", or what is wrong with it in words an
operator can act on ("database migrations behind: at 0019, code wants 0020"). See
docs/adr/0054-events-in-files-state-read-at-scrape.md for why workers count here and not in
`/health`.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from engine.observability import WORKER_ALIVE, alive_workers, redis_client
from engine.store.database import Database, alembic_config, revisions

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory


@dataclass(frozen=True, slots=True)
class Readiness:
    """Each part's state, "ok" or what is wrong with it in an operator's words."""

    parts: dict[str, str]

    @property
    def ready(self) -> bool:
        return all(state == "ok" for state in self.parts.values())

    @property
    def problems(self) -> list[str]:
        return [f"{part}: {state}" for part, state in self.parts.items() if state != "ok"]


@functools.cache
def code_heads() -> frozenset[str]:
    """The migration heads this code wants (read once: the code does not change while up)."""
    return frozenset(_scripts().get_heads())


def readiness(database: Database, redis_url: str | None, now: datetime | None = None) -> Readiness:
    """Say whether the database, its migrations, Redis and the workers are ready to work."""
    now = now or datetime.now(UTC)
    parts = {"database": "ok", "migrations": "ok", "redis": "ok", "workers": "ok"}
    try:
        at = _database_revisions(database)
    except SQLAlchemyError as error:
        parts["database"] = f"does not answer ({type(error).__name__})"
        parts["migrations"] = "unknown: the database does not answer"
    else:
        parts["migrations"] = _migrations(at, code_heads())
    if not redis_url:
        parts["redis"] = "not configured (set REDIS_URL): no worker can be reached"
        parts["workers"] = "unknown: no Redis"
        return Readiness(parts)
    try:
        with redis_client(redis_url) as connection:
            connection.ping()
            alive = alive_workers(connection, now)
    except RedisError as error:
        parts["redis"] = f"does not answer ({type(error).__name__})"
        parts["workers"] = "unknown: Redis does not answer"
        return Readiness(parts)
    if not alive:
        parts["workers"] = (
            f"no worker has reported in the last {WORKER_ALIVE.total_seconds():.0f} s: "
            "timers, mail and webhooks wait (start one: flowdesk worker)"
        )
    return Readiness(parts)


def _database_revisions(database: Database) -> frozenset[str]:
    with database.reading() as session:
        return frozenset(revisions(session.connection()))


def _migrations(at: frozenset[str], wanted: frozenset[str]) -> str:
    if at == wanted:
        return "ok"
    where = ", ".join(sorted(at)) or "none (an empty database)"
    wants = ", ".join(sorted(wanted))
    if at - known_revisions():
        return (
            f"database migrations ahead of this code: at {where}, code wants {wants} "
            "(a newer release migrated it: deploy that release here too)"
        )
    return (
        f"database migrations behind: at {where}, code wants {wants} "
        "(a starting worker migrates it: flowdesk worker, or flowdesk up)"
    )


@functools.cache
def known_revisions() -> frozenset[str]:
    """Every migration this code knows."""
    return frozenset(revision.revision for revision in _scripts().walk_revisions())


def _scripts() -> ScriptDirectory:
    # Alembic says at INFO what it sets up as it loads ("setup plugin ..."), and what it
    # finds as it migrates ("Context impl ...", "Will assume ..."): nothing an operator of
    # the web app, whose log is at INFO for its access lines, has to read. Its warnings stay.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # Imported here: Alembic (with Mako) weighs about 11 MB, and only /ready needs it.
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())
