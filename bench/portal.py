"""Public reports at a stated arrival rate, against the stack a user runs, started cold.

Each round starts `flowdesk up` afresh (an empty database, the pack loaded, the worker
and its periodic jobs running: timers, outbox relay, sweeps) and sends requesters at
random (Poisson) at `--rate` a second on average for `--duration` seconds: an open
loop, so a slow answer does not slow the arrivals. Each requester loads the form page
(its CSRF token), then posts a valid `it-incident` report at its arrival time; the
submit latency is measured from that intended arrival to the 303, so a requester who
waited for a free client is counted as waiting (no coordinated omission).
`client_late_p95_ms` says how late posts left for want of a free client: near zero
unless the load generator itself ran short.

Topologies: `embedded` is `flowdesk up` (SQLite, waitress in one process, one worker,
the embedded Redis unless `REDIS_URL`); `production` is `flowdesk up --web 2 --workers 2`
on PostgreSQL (`FLOWDESK_BENCH_DATABASE_URL`, else `FLOWDESK_TEST_DATABASE_URL`; a fresh
schema per round) and Redis.

Rate limits are the defaults (20 posts a minute per address). As behind a reverse proxy,
the app is told to trust one (`FLOWDESK_TRUSTED_PROXIES=1`) and each requester comes
from an address of its own in `X-Forwarded-For`: limits are counted in Redis on every
post, and none is reached, as for real requesters.

`--find-max` runs one production stack and steps the rate up (`--start`, `--step`),
holding each for `--hold` seconds (60), and prints the highest rate held with submit
p95 <= 250 ms, no error, and one instance per 303.

Prints one JSON line: git commit, parameters, medians over rounds, load average.
After each round the database must hold exactly one instance per 303, else exit 1.

    python bench/portal.py --rate 100 [--duration 30] [--rounds 3] [--topology embedded]
    python bench/portal.py --topology production --rate 200
    python bench/portal.py --find-max [--start 50] [--step 50] [--hold 60]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, select, text  # noqa: E402

from engine.store.database import Database  # noqa: E402
from engine.store.instances import Instance  # noqa: E402
from web.cli.stack import free_port  # noqa: E402

FORM = "/new/it-incident"
REPORT = {
    "name": "Ada Lovelace", "email": "ada@example.org", "description": "It blinks red.",
    "category": "hardware", "impact": "medium", "urgency": "high",
}  # fmt: skip
HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"')
START_TIMEOUT_S = 180
#: How long before its submit a requester opens the form page.
FORM_LEAD_S = 0.2
REQUEST_TIMEOUT_S = 30
#: What `--find-max` holds a rate to.
P95_LIMIT_MS = 250.0
#: The production topology the Done-when line names.
PRODUCTION = ("--web", "2", "--workers", "2")


def git_commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True)  # fmt: skip
    dirty = subprocess.run(["git", "diff", "--quiet"], cwd=ROOT).returncode != 0
    return done.stdout.strip() + ("+dirty" if dirty else "")


def postgres_base() -> str:
    url = os.environ.get("FLOWDESK_BENCH_DATABASE_URL") or os.environ.get(
        "FLOWDESK_TEST_DATABASE_URL"
    )
    if not url:
        sys.exit("the production topology needs FLOWDESK_BENCH_DATABASE_URL (PostgreSQL)")
    return url


@contextmanager
def postgres_schema(base: str) -> Iterator[str]:
    """A URL of an empty PostgreSQL schema of its own, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
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


@dataclass
class Stack:
    port: int
    database_url: str


@contextmanager
def database_for(topology: str) -> Iterator[str]:
    """A fresh PostgreSQL schema for the production topology; "" (the instance's SQLite) else."""
    if topology != "production":
        yield ""
        return
    with postgres_schema(postgres_base()) as url:
        yield url


@contextmanager
def flowdesk_up(topology: str, folder: Path) -> Iterator[Stack]:
    """Run `flowdesk up` cold in `folder` until it says it is up; Ctrl-C it at the end."""
    with database_for(topology) as database_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWDESK_")}
        env.update(FLOWDESK_INSTANCE_PATH=str(folder), FLOWDESK_TRUSTED_PROXIES="1")
        if database_url:
            env["FLOWDESK_DATABASE_URL"] = database_url
        port = free_port()
        command = [sys.executable, "-m", "web", "up", "--port", str(port)]
        if topology == "production":
            command += PRODUCTION
        log_path = folder / "up.log"
        with log_path.open("w") as log:
            up = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log)
            try:
                wait_until_up(up, log_path)
                url = database_url or f"sqlite:///{folder / 'flowdesk.sqlite3'}"
                yield Stack(port, url)
            finally:
                up.send_signal(signal.SIGINT)
                up.wait(timeout=60)


def wait_until_up(up: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while "Flowdesk is up" not in log.read_text():
        if up.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"flowdesk up did not come up:\n{log.read_text()}")
        time.sleep(0.1)


@dataclass
class Tally:
    """What the requesters saw in one phase, shared between the client threads."""

    arrivals: list[float]
    began: float = 0.0
    taken: int = 0
    submits: list[float] = field(default_factory=list)  # intended arrival -> 303
    posts: list[float] = field(default_factory=list)  # post sent -> 303
    gets: list[float] = field(default_factory=list)
    late: list[float] = field(default_factory=list)
    redirects: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> int | None:
        with self.lock:
            if self.taken >= len(self.arrivals):
                return None
            self.taken += 1
            return self.taken - 1

    def error(self, what: str) -> None:
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1


class Client:
    """One client thread: serves requesters one after another over a kept-alive connection
    (as a proxy does), each requester with a fresh session and an address of its own."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)

    def request(
        self, method: str, cookies: dict[str, str], address: str, body: str | None = None
    ) -> tuple[int, str]:
        headers = {"X-Forwarded-For": address,
                   "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}  # fmt: skip
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.connection.request(method, FORM, body=body, headers=headers)
        response = self.connection.getresponse()
        page = response.read().decode()
        for header in response.headers.get_all("Set-Cookie") or []:
            for key, morsel in SimpleCookie(header).items():
                cookies[key] = morsel.value
        return response.status, page

    def run(self, tally: Tally) -> None:
        while (number := tally.take()) is not None:
            try:
                self.requester(tally, number)
            except (OSError, http.client.HTTPException) as error:
                tally.error(type(error).__name__)
                self.connection.close()  # reopened by the next request

    def requester(self, tally: Tally, number: int) -> None:
        due = tally.began + tally.arrivals[number]
        # The requester opens the form a little before sending it, so the page's own
        # time is not counted in the submit's, yet loads the server at the same rate.
        time.sleep(max(0.0, due - FORM_LEAD_S - time.perf_counter()))
        address = f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}"
        cookies: dict[str, str] = {}
        opened = time.perf_counter()
        status, page = self.request("GET", cookies, address)
        fetched = time.perf_counter()
        if status != 200:
            tally.error(f"GET {status}")
            return
        body = urlencode({**dict(HIDDEN.findall(page)), **REPORT,
                          "summary": f"Printer {number} on floor 3 is jammed"})  # fmt: skip
        time.sleep(max(0.0, due - time.perf_counter()))
        posted = time.perf_counter()
        status, _ = self.request("POST", cookies, address, body)
        done = time.perf_counter()
        with tally.lock:
            tally.gets.append(fetched - opened)
            tally.late.append(max(0.0, posted - due))
            if status == 303:
                tally.redirects += 1
                tally.submits.append(done - due)
                tally.posts.append(done - posted)
            else:
                tally.errors[f"POST {status}"] = tally.errors.get(f"POST {status}", 0) + 1


def poisson_arrivals(rate: float, duration: float, seed: int) -> list[float]:
    """When requesters come in `duration` seconds, at `rate` a second on average."""
    rng = random.Random(seed)
    moments, at = [], rng.expovariate(rate)
    while at < duration:
        moments.append(at)
        at += rng.expovariate(rate)
    return moments


def run_phase(port: int, rate: float, duration: float, clients: int, seed: int) -> Tally:
    tally = Tally(poisson_arrivals(rate, duration, seed))
    pool = [Client(port) for _ in range(clients)]
    threads = [threading.Thread(target=client.run, args=(tally,)) for client in pool]
    tally.began = time.perf_counter() + 0.1
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def count_instances(url: str) -> int:
    database = Database(url)
    try:
        with database.reading() as session:
            return int(session.scalar(select(func.count()).select_from(Instance)) or 0)
    finally:
        database.dispose()


def figures(tally: Tally, duration: float, instances: int) -> dict[str, float]:
    errors = sum(tally.errors.values())
    if tally.errors:
        print(f"unexpected answers: {tally.errors}", file=sys.stderr)
    return {
        "submits_per_s": tally.redirects / duration,
        "p50_ms": 1000 * percentile(tally.submits, 0.50),
        "p95_ms": 1000 * percentile(tally.submits, 0.95),
        "p99_ms": 1000 * percentile(tally.submits, 0.99),
        "post_p95_ms": 1000 * percentile(tally.posts, 0.95),
        "form_get_p95_ms": 1000 * percentile(tally.gets, 0.95),
        "client_late_p95_ms": 1000 * percentile(tally.late, 0.95),
        "errors": errors,
        "instances": instances,
        "lost_or_doubled": abs(instances - tally.redirects),
    }


def one_round(args: argparse.Namespace, seed: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as name, flowdesk_up(args.topology, Path(name)) as stack:
        tally = run_phase(stack.port, args.rate, args.duration, args.clients, seed)
        return figures(tally, args.duration, count_instances(stack.database_url))


def find_max(args: argparse.Namespace) -> None:
    steps, held = [], None
    with tempfile.TemporaryDirectory() as name, flowdesk_up("production", Path(name)) as stack:
        rate, seed = args.start, 0
        before = 0
        while True:
            tally = run_phase(stack.port, rate, args.hold, clients_for(args, rate), seed)
            now = count_instances(stack.database_url)
            step = {"rate": rate, **figures(tally, args.hold, now - before)}
            steps.append({k: round(v, 1) for k, v in step.items()})
            print(json.dumps(steps[-1]), file=sys.stderr)
            before, seed = now, seed + 1
            if step["p95_ms"] > P95_LIMIT_MS or step["errors"] or step["lost_or_doubled"]:
                break
            held = rate
            rate += args.step
    print(json.dumps({"bench": "portal", "commit": git_commit(), "mode": "find-max",
                      "topology": "production", "web_processes": 2, "workers": 2,
                      "database": "postgresql", "hold_s": args.hold,
                      "p95_limit_ms": P95_LIMIT_MS, "max_rate_held": held, "steps": steps,
                      "load_average": os.getloadavg()[0]}))  # fmt: skip


def clients_for(args: argparse.Namespace, rate: float) -> int:
    """Enough client threads that the load generator is not what makes requesters wait.

    A client holds each requester `FORM_LEAD_S` plus two answers: at 250 ms p95 a
    second's worth of arrivals keeps it far from running short.
    """
    return args.clients or max(64, int(rate))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100, help="Submits a second (Poisson).")
    parser.add_argument("--duration", type=float, default=30, help="Seconds of load a round.")
    parser.add_argument("--rounds", type=int, default=3, help="Cold starts, one a round.")
    parser.add_argument("--topology", choices=("embedded", "production"), default="embedded")
    parser.add_argument("--clients", type=int, help="Client threads (default: rate, >= 64).")
    parser.add_argument("--find-max", action="store_true")
    parser.add_argument("--start", type=float, default=50, help="--find-max: first rate.")
    parser.add_argument("--step", type=float, default=50, help="--find-max: rate step.")
    parser.add_argument("--hold", type=float, default=60, help="--find-max: seconds a step.")
    args = parser.parse_args()
    if args.find_max:
        find_max(args)
        return
    load_before = os.getloadavg()[0]
    args.clients = clients_for(args, args.rate)
    rounds = [one_round(args, seed) for seed in range(args.rounds)]
    medians = ("submits_per_s", "p50_ms", "p95_ms", "p99_ms", "post_p95_ms",
               "form_get_p95_ms", "client_late_p95_ms")  # fmt: skip
    errors = sum(int(r["errors"] + r["lost_or_doubled"]) for r in rounds)
    print(json.dumps({"bench": "portal", "commit": git_commit(), "topology": args.topology,
                      "database": "postgresql" if args.topology == "production" else "sqlite",
                      "load": f"open loop, Poisson {args.rate:g}/s", "duration_s": args.duration,
                      "clients": args.clients, "rate_limits": "default",
                      **{k: round(statistics.median(r[k] for r in rounds), 1) for k in medians},
                      "submits": sum(int(r["instances"]) for r in rounds), "errors": errors,
                      "rounds": args.rounds, "statistic": "median",
                      "load_average": [load_before, os.getloadavg()[0]]}))  # fmt: skip
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
