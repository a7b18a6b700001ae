"""What Prometheus scrapes: histograms of what each process sees, gauges of what all share.

Two kinds of figures, measured two ways (docs/adr/0054-events-in-files-state-read-at-scrape.md):

- Events a process sees (a request's latency, a timer's lateness) are histograms kept by
  `prometheus_client`. With `PROMETHEUS_MULTIPROC_DIR` set (before the process starts) every
  web and worker process writes its own memory-mapped file there and `/metrics` sums them
  all; without it, each process keeps its own, which is right for a single web process.
- State shared by every process (queue depth, outbox backlog and dead letters, instances
  by status, overdue timers, workers alive) is read from the database and Redis when
  Prometheus asks, by `StateCollector`: one grouped query per table, so any web process
  answers the same and no process has to keep a gauge up to date.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import Table, func, select
from sqlalchemy.exc import SQLAlchemyError

from engine.store.database import Database
from engine.store.instances import Instance, Outbox, Timer

#: The outbox kinds the relay carries out (`engine.jobs.outbox.KINDS`): reported even at 0.
RELAYED_KINDS = ("notify",)

#: The environment variable `prometheus_client` reads for its multiprocess directory.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Request latency buckets, in seconds: pages answer in milliseconds; a few may take seconds.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Timer lateness buckets, in seconds: the target is p95 under 1 s, max 3 s (issue 19).
LATENESS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0)
#: A pending timer past due by more than this is overdue: the sweep's grace (5 s) and more.
OVERDUE_AFTER = timedelta(seconds=10)
#: A worker counts as alive when it said so this recently: each says so every
#: `WORKER_REPORT_EVERY` (`engine.jobs.worker.PeriodicThread`), so a killed one drops out
#: within this, not RQ's 420 s time to live of a worker.
WORKER_ALIVE = timedelta(seconds=30)
WORKER_REPORT_EVERY = timedelta(seconds=5)
#: Where each worker says it is alive: a sorted set of worker -> the time it last said so.
#: Written again every few seconds, so a flushed or restarted Redis has it back at once
#: (RQ's own set of workers is written once, as a worker starts).
ALIVE_KEY = "flowdesk:workers:alive"
#: How long a Redis question of /metrics or /ready may take before it counts as no answer.
REDIS_TIMEOUT_S = 1.0

outbox = cast(Table, Outbox.__table__)
instances = cast(Table, Instance.__table__)
timers = cast(Table, Timer.__table__)


# Events: histograms each process observes ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Events:
    requests: Histogram
    lateness: Histogram
    registry: CollectorRegistry
    #: Written to files in `PROMETHEUS_MULTIPROC_DIR` (else kept in this process only).
    shared: bool


_made: list[_Events] = []
_making = threading.Lock()


def _events() -> _Events:
    """This process's histograms, made on first use (nothing is made at import time)."""
    if _made:
        return _made[0]
    with _making:
        if not _made:
            registry = CollectorRegistry(auto_describe=True)
            requests = Histogram(
                "flowdesk_http_request_duration_seconds",
                "Time to answer a request, by route (the URL rule), method and status class.",
                ("route", "method", "status"),
                buckets=REQUEST_BUCKETS,
                registry=registry,
            )
            lateness = Histogram(
                "flowdesk_timer_lateness_seconds",
                "How long after its due time a timer fired (fired_at - due_at).",
                buckets=LATENESS_BUCKETS,
                registry=registry,
            )
            # prometheus_client chose files or memory when it was imported, by this variable.
            _made.append(_Events(requests, lateness, registry, bool(os.environ.get(MULTIPROC_ENV))))
    return _made[0]


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request (`route` is the URL rule, never the raw path)."""
    key = (route, method, status // 100)
    series = _series.get(key)
    if series is None:  # `labels` checks and locks on every call: look each up once
        series = _series[key] = _events().requests.labels(route, method, f"{key[2]}xx")
    series.observe(seconds)


#: The latency histogram's series by (route, method, status class); as many as routes.
_series: dict[tuple[str, str, int], Histogram] = {}


def observe_timer_lateness(due: datetime, fired: datetime) -> float:
    """Count one fired timer, `fired - due` late (early counts as 0: none should be); return it."""
    late = max(0.0, (fired - due).total_seconds())
    _events().lateness.observe(late)
    return late


def fresh_metrics_folder(folder: str | os.PathLike[str]) -> dict[str, str]:
    """Empty (or make) the folder the processes of a deployment share their histograms in.

    For a supervisor, before it starts any process: pass the returned variables to every
    child, web and worker, so each writes its file there. Never while they run: the sums
    would go backwards.
    """
    path = os.fspath(folder)
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))
    return {MULTIPROC_ENV: path}


def exposition(collector: Collector, directory: str | None = None) -> bytes:
    """The text Prometheus scrapes: the event histograms of every process, then `collector`.

    `directory` is where the processes write their files (by default
    `PROMETHEUS_MULTIPROC_DIR`). A process that writes none (one web process, a test)
    adds its own histograms from memory; the same series from both are summed.
    """
    events = _events()
    directory = directory or os.environ.get(MULTIPROC_ENV)
    sources: list[Collector] = []
    if directory and os.path.isdir(directory):
        sources.append(MultiProcessCollector(None, path=directory))  # type: ignore[no-untyped-call]
    if not events.shared:
        sources.append(events.registry)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Summed(sources))
    registry.register(collector)
    return generate_latest(registry)


class _Summed(Collector):
    """The metrics of several sources as one: samples of the same series are added up."""

    def __init__(self, sources: list[Collector]) -> None:
        self.sources = sources

    def collect(self) -> Iterable[Metric]:
        if len(self.sources) == 1:
            return self.sources[0].collect()
        families: dict[str, Metric] = {}
        totals: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
        for source in self.sources:
            for metric in source.collect():
                families.setdefault(metric.name, metric)  # its help and type
                summed = totals.setdefault(metric.name, {})
                for sample in metric.samples:
                    if sample.name.endswith("_created"):
                        continue  # a time, not a count: files keep none, so neither does the sum
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    summed[key] = summed.get(key, 0.0) + sample.value
        merged = []
        for name, first in families.items():
            out = Metric(name, first.documentation, first.type)
            for (series, labels), total in totals[name].items():
                out.add_sample(series, dict(labels), total)
            merged.append(out)
        return merged


# State: read from the database and Redis at scrape time -------------------------------------


class StateCollector(Collector):
    """Gauges of what every process shares, read when Prometheus asks."""

    def __init__(
        self, database: Database, redis_url: str | None, clock: type[datetime] = datetime
    ) -> None:
        self.database = database
        self.redis_url = redis_url
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "flowdesk_source_up",
            "Whether this scrape could read a source of state (1) or not (0).",
            labels=("source",),
        )
        now = self.clock.now(UTC)
        try:
            yield from self._database(now)
            up.add_metric(("database",), 1)
        except SQLAlchemyError:
            up.add_metric(("database",), 0)
        if self.redis_url:
            try:
                yield from self._redis(self.redis_url, now)
                up.add_metric(("redis",), 1)
            except RedisError:
                up.add_metric(("redis",), 0)
        yield up

    def _database(self, now: datetime) -> list[Metric]:
        with self.database.reading() as session:
            by_status = session.execute(
                select(instances.c.status, func.count()).group_by(instances.c.status)
            ).all()
            waiting = session.execute(
                select(outbox.c.kind, outbox.c.status, func.count(), func.min(outbox.c.created_at))
                .where(outbox.c.status.in_(("pending", "failed")))
                .group_by(outbox.c.kind, outbox.c.status)
            ).all()
            overdue = session.scalar(
                select(func.count()).where(
                    timers.c.status == "pending", timers.c.due_at < now - OVERDUE_AFTER
                )
            )
        found = GaugeMetricFamily(
            "flowdesk_instances", "Instances by status, now.", labels=("status",)
        )
        for status, count in by_status:
            found.add_metric((str(status),), count)
        backlog = GaugeMetricFamily(
            "flowdesk_outbox_pending",
            "Messages in the outbox not yet carried out (the backlog), by kind.",
            labels=("kind",),
        )
        dead = GaugeMetricFamily(
            "flowdesk_outbox_dead_letters",
            "Messages given up on (dead letters, shown on their instance), by kind.",
            labels=("kind",),
        )
        oldest = GaugeMetricFamily(
            "flowdesk_outbox_oldest_pending_seconds",
            "Age of the oldest message not yet carried out, by kind.",
            labels=("kind",),
        )
        # The relay's kinds always have a series, 0 when none wait: an alert on the
        # increase of dead letters needs the 0 before the first one.
        pending = {str(kind): (0, 0.0) for kind in RELAYED_KINDS}
        buried = {str(kind): 0 for kind in RELAYED_KINDS}
        for kind, status, count, first in waiting:
            if status == "pending":
                pending[str(kind)] = (count, max(0.0, (now - _aware(first)).total_seconds()))
            else:
                buried[str(kind)] = count
        for kind, (count, age) in pending.items():
            backlog.add_metric((kind,), count)
            oldest.add_metric((kind,), age)
        for kind, count in buried.items():
            dead.add_metric((kind,), count)
        late = GaugeMetricFamily(
            "flowdesk_timers_overdue",
            f"Pending timers more than {OVERDUE_AFTER.total_seconds():.0f} s past due: "
            "none should be while a worker runs.",
            value=int(overdue or 0),
        )
        return [found, backlog, dead, oldest, late]

    def _redis(self, url: str, now: datetime) -> list[Metric]:
        depth = GaugeMetricFamily(
            "flowdesk_queue_jobs",
            "RQ jobs by queue and state: queued (waiting for a worker), scheduled (for "
            "later: timers), failed.",
            labels=("queue", "state"),
        )
        with redis_client(url) as connection:
            for queue in Queue.all(connection=connection):
                scheduled = ScheduledJobRegistry(queue=queue)  # type: ignore[no-untyped-call]
                failed = FailedJobRegistry(queue=queue)
                with connection.pipeline(transaction=False) as pipe:
                    pipe.llen(queue.key)
                    pipe.zcard(scheduled.key)
                    pipe.zcard(failed.key)
                    queued, waiting, broken = pipe.execute()
                depth.add_metric((queue.name, "queued"), queued)
                depth.add_metric((queue.name, "scheduled"), waiting)
                depth.add_metric((queue.name, "failed"), broken)
            alive = alive_workers(connection, now)
        workers = GaugeMetricFamily(
            "flowdesk_workers",
            f"RQ workers that reported within the last {WORKER_ALIVE.total_seconds():.0f} s.",
            value=alive,
        )
        return [depth, workers]


def redis_client(url: str) -> Redis:
    """A connection to ask Redis a quick question: a second to answer, or it did not."""
    return Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=1)


def alive_workers(connection: Redis, now: datetime) -> int:
    """How many workers said they are alive within `WORKER_ALIVE` of `now`."""
    return int(connection.zcount(ALIVE_KEY, (now - WORKER_ALIVE).timestamp(), "+inf"))


def report_alive(connection: Redis, worker: str, now: datetime) -> None:
    """Say that `worker` is alive at `now`, and forget those long gone."""
    pipe = connection.pipeline(transaction=False)
    pipe.zadd(ALIVE_KEY, {worker: now.timestamp()})
    pipe.zremrangebyscore(ALIVE_KEY, "-inf", (now - 10 * WORKER_ALIVE).timestamp())
    pipe.execute()


def report_gone(connection: Redis, worker: str) -> None:
    """Say that `worker` stopped: it counts no more, at once."""
    connection.zrem(ALIVE_KEY, worker)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
