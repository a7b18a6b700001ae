"""When is the stack `flowdesk up` started ready, and what is still missing if it is not?

Ready means every web process has built the app (gunicorn's processes each leave a
file named after their pid, `web.cli.gunicorn_config`), `/health` answers 200 through
the listening socket (so the database and Redis answer too), and every RQ worker has
registered itself with Redis, which it does once its database is migrated and it is
about to take jobs.
"""

from __future__ import annotations

import http.client
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError
from rq import Worker

from web.cli.supervisor import Supervisor, SupervisorError

#: How long the parts have to become ready before everything is stopped.
READY_TIMEOUT_S = 60.0
READY_POLL_S = 0.2
#: How often a stack still starting says what it waits for: silence read as a hang.
PROGRESS_EVERY_S = 5.0


@dataclass(frozen=True)
class Topology:
    """Where the web app listens, and how many processes of each kind run it."""

    host: str
    port: int
    #: gunicorn processes; None: waitress in one process (the embedded stack).
    web_processes: int | None
    workers: int
    threads: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class Readiness:
    """Watch a starting stack until every part of it answers."""

    def __init__(self, topology: Topology, redis_url: str, folder: Path) -> None:
        self.topology = topology
        self.redis_url = redis_url
        self.folder = folder

    def clear(self) -> None:
        """Forget the word of web processes of an earlier run."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)

    def wait(
        self,
        supervisor: Supervisor,
        *,
        timeout_s: float = READY_TIMEOUT_S,
        progress_every_s: float = PROGRESS_EVERY_S,
    ) -> None:
        """Return once every part is ready; raise `SupervisorError` naming what is not.

        Every `progress_every_s` it says what it still waits for (on a busy machine the
        parts take tens of seconds, which said nothing before "Flowdesk is up")."""
        started = time.monotonic()
        said = started
        while (missing := self.missing(supervisor)) and not supervisor.stopping:
            supervisor.check()  # a part that keeps dying fails the start at once
            now = time.monotonic()
            if now - started > timeout_s:
                raise SupervisorError(
                    f"not ready after {timeout_s:g} s: {'; '.join(missing)}; stopping everything"
                )
            if now - said >= progress_every_s:
                said = now
                waited = f"{now - started:.0f} s"
                supervisor.echo(f"Still starting ({waited}), waiting for: {'; '.join(missing)}")
            time.sleep(READY_POLL_S)

    def missing(self, supervisor: Supervisor) -> list[str]:
        """Say what is not ready yet, in words; an empty list when everything is."""
        missing = []
        wanted = self.topology.web_processes
        if wanted is not None and len(self.web_pids()) < wanted:
            missing.append(f"{len(self.web_pids())} of {wanted} web processes built the app")
        if not self.healthy():
            missing.append(f"{self.topology.url}/health does not answer 200")
        workers = [p for p in supervisor.programs if p.name.startswith("worker")]
        down = [p.name for p in workers if not p.running()]
        if down:  # dead between restarts: not running, so not registered either
            missing.append(f"{', '.join(down)} not running")
        waiting = sorted(set(self.worker_pids(supervisor)) - self.registered())
        if waiting:
            missing.append(f"workers (pids {', '.join(map(str, waiting))}) not registered")
        return missing

    def web_pids(self) -> list[int]:
        """The gunicorn processes that built the app and are still alive."""
        alive = []
        for marker in self.folder.iterdir():
            try:
                os.kill(int(marker.name), 0)
            except (ValueError, ProcessLookupError):
                continue
            alive.append(int(marker.name))
        return sorted(alive)

    def healthy(self) -> bool:
        connection = http.client.HTTPConnection(self.topology.host, self.topology.port, timeout=2)
        try:
            connection.request("GET", "/health")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    @staticmethod
    def worker_pids(supervisor: Supervisor) -> list[int]:
        return [
            p.pid
            for p in supervisor.programs
            if p.name.startswith("worker") and p.pid is not None and p.running()
        ]

    def registered(self) -> set[int]:
        """The pids of the RQ workers registered with Redis."""
        try:
            with Redis.from_url(self.redis_url, socket_timeout=2) as connection:
                return {worker.pid for worker in Worker.all(connection=connection) if worker.pid}
        except RedisError:
            return set()

    def describe(self, supervisor: Supervisor) -> str:
        """What is up, for the console."""
        topology = self.topology
        if topology.web_processes is None:
            web = f"Web: waitress, 1 process, at {topology.url}"
        else:
            kind = f"gthread, {topology.threads} threads" if topology.threads > 1 else "sync"
            pids = ", ".join(map(str, self.web_pids()))
            web = (
                f"Web: gunicorn ({kind}), {topology.web_processes} "
                f"{'process' if topology.web_processes == 1 else 'processes'} (pids {pids}), "
                f"at {topology.url}"
            )
        workers = self.worker_pids(supervisor)
        return (
            f"{web}\nWorkers: {len(workers)} (pids {', '.join(map(str, workers))}) registered "
            "with Redis; one at a time queues the periodic jobs"
        )
