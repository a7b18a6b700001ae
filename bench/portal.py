"""Public reports under load: the `it-incident` form submitted by concurrent clients over HTTP.

Runs the web app in its own processes over a fresh SQLite database and a real
Redis: under gunicorn with 2 x cores + 1 synchronous workers by default (gunicorn's
own advice, and what the README recommends), or under waitress in one process with
`--workers 1` (what `flowdesk up` runs). Each client keeps one connection and
loops: fetch the form page (its CSRF token and submission id), post a valid report,
take the 303 without following it. The submit latency is the post's; the form
page's is kept apart.

By default the load is a closed loop: every client submits again as soon as it has
its answer, so the server is saturated and the latency says how deep its queue is
(Little's law: 32 clients / submits per second). With `--rate R` it is an open
loop: requesters arrive at random (Poisson) at R a second on average, each served by
a free client, and the latency is what one of them waits at that load; `late_p95_ms`
says how late requesters started for want of a free client (near zero below
capacity). After each round the database must
hold exactly one instance per 303 answer. Prints one JSON line with medians over
the rounds; `submits` and `instances` are totals over the timed phases, `errors`
counts every other answer (warm-up included), failed request, and instance lost or
doubled: a clean run has `instances == submits` and `errors == 0`, else exits 1.

The portal's rate limit (20 posts a minute per address) would refuse all but the
first few posts, since every client comes from 127.0.0.1: the bench raises it to
`RATE_LIMIT`. Limits are still counted in Redis on every post, as in production.

    python bench/portal.py [--clients 32] [--submits 2000] [--rounds 3] [--rate R]
                           [--workers 2*cores+1] [--threads 1 (4 under waitress)]
    REDIS_URL=redis://127.0.0.1:6379/14 python bench/portal.py   # an existing Redis
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from engine.service.definitions import load_folder  # noqa: E402
from engine.store.database import Database  # noqa: E402
from engine.store.instances import Instance  # noqa: E402
from web.cli.stack import embedded_redis, free_port  # noqa: E402

FORM = "/new/it-incident"
REPORT = {
    "name": "Ada Lovelace", "email": "ada@example.org", "description": "It blinks red.",
    "category": "hardware", "impact": "medium", "urgency": "high",
}  # fmt: skip
#: High enough that no post of the bench is refused: every client shares one address.
RATE_LIMIT = "1000000 per minute; 100000000 per day"
HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"')
#: waitress's own default, which `flowdesk up` runs with.
WAITRESS_THREADS = 4
START_TIMEOUT_S = 30
REQUEST_TIMEOUT_S = 60
#: A phase stops early after this many failed submits: a failure can take 30 s to come.
MAX_ERRORS = 20


def prepare(folder: Path) -> str:
    """Return the URL of a migrated SQLite database holding the shipped workflows."""
    url = f"sqlite:///{folder}/flowdesk.sqlite3"
    database = Database(url)
    database.migrate()
    with database.writer_session() as session, session.begin():
        load_folder(session, ROOT / "workflows", datetime.now(UTC), "bench")
    database.dispose()
    return url


def count_instances(url: str) -> int:
    database = Database(url)
    try:
        with database.reading() as session:
            return int(session.scalar(select(func.count()).select_from(Instance)) or 0)
    finally:
        database.dispose()


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    with embedded_redis(folder) as url:
        yield url


@contextmanager
def web_server(
    folder: Path, database_url: str, redis_url: str, threads: int, workers: int = 1
) -> Iterator[int]:
    """Run the app in its own processes, so clients do not share its GIL.

    One worker: waitress (what `flowdesk up` runs). More: gunicorn with that many
    worker processes of `threads` threads each (what a production machine runs).
    """
    port = free_port()
    env = {
        **os.environ,
        "FLOWDESK_INSTANCE_PATH": str(folder),
        "FLOWDESK_DATABASE_URL": database_url,
        "FLOWDESK_REDIS_URL": redis_url,
        "FLOWDESK_SECRET_KEY": "bench-secret-key",
        "FLOWDESK_PORTAL_RATE_LIMIT": RATE_LIMIT,
        "FLOWDESK_UPLOAD_FOLDER": str(folder / "files"),
    }
    command = [sys.executable, "-m", "waitress", "--host", "127.0.0.1", f"--port={port}",
               f"--threads={threads}", "--call", "web.app:create_app"]  # fmt: skip
    if workers > 1:
        command = [sys.executable, "-m", "gunicorn", f"--bind=127.0.0.1:{port}",
                   f"--workers={workers}", f"--threads={threads}",
                   "web.app:create_app()"]  # fmt: skip
    # A file, not a pipe: waitress warns of its task queue depth under load, and a full
    # pipe would stall the server.
    log = (folder / "waitress.log").open("w")
    server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log)
    try:
        wait_for_health(server, port, folder / "waitress.log")
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def wait_for_health(server: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"waitress stopped at start:\n{log.read_text()}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                connection.close()
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the app did not answer /health on port {port}")


@dataclass
class Tally:
    """What the clients saw in one phase, shared between their threads."""

    total: int
    #: Open loop: when each submit is due, in seconds from the phase's start (None: at once).
    arrivals: list[float] | None = None
    began: float = field(default_factory=time.perf_counter)
    taken: int = 0
    late: list[float] = field(default_factory=list)
    posts: list[float] = field(default_factory=list)
    gets: list[float] = field(default_factory=list)
    redirects: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> int | None:
        """Return the number of the next submit to make, or None when all are taken."""
        with self.lock:
            if self.taken >= self.total or sum(self.errors.values()) >= MAX_ERRORS:
                return None
            self.taken += 1
            return self.taken

    def error(self, what: str) -> None:
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1


class Client:
    """One requester's browser: one kept-alive connection and its session cookie."""

    def __init__(self, port: int, name: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
        self.name = name
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode()
        for header in response.headers.get_all("Set-Cookie") or []:
            for key, morsel in SimpleCookie(header).items():
                self.cookies[key] = morsel.value
        return response.status, text

    def run(self, tally: Tally) -> None:
        while (number := tally.take()) is not None:
            if tally.arrivals is not None:
                due = tally.began + tally.arrivals[number - 1]
                time.sleep(max(0.0, due - time.perf_counter()))
                with tally.lock:  # how late the requester came: no client was free
                    tally.late.append(max(0.0, time.perf_counter() - due))
            try:
                self.submit(tally, number)
            except (OSError, http.client.HTTPException) as error:
                tally.error(type(error).__name__)
                self.connection.close()  # reopened by the next request

    def submit(self, tally: Tally, number: int) -> None:
        began = time.perf_counter()
        status, page = self.request("GET", FORM)
        got = time.perf_counter()
        if status != 200:
            tally.error(f"GET {status}")
            return
        hidden = dict(HIDDEN.findall(page))
        summary = f"Printer {self.name}-{number} on floor 3 is jammed"
        body = urlencode({**hidden, **REPORT, "summary": summary})
        posted = time.perf_counter()
        status, _ = self.request("POST", FORM, body)
        done = time.perf_counter()
        with tally.lock:
            tally.gets.append(got - began)
            tally.posts.append(done - posted)
            if status == 303:
                tally.redirects += 1
            else:
                tally.errors[f"POST {status}"] = tally.errors.get(f"POST {status}", 0) + 1


def poisson_arrivals(count: int, rate: float, seed: int) -> list[float]:
    """When `count` requesters come, at `rate` a second on average, independently."""
    rng = random.Random(seed)
    moments, at = [], 0.0
    for _ in range(count):
        at += rng.expovariate(rate)
        moments.append(at)
    return moments


def run_phase(
    clients: list[Client], submits: int, rate: float | None = None, seed: int = 0
) -> tuple[Tally, float]:
    arrivals = poisson_arrivals(submits, rate, seed) if rate else None
    tally = Tally(submits, arrivals)
    threads = [threading.Thread(target=client.run, args=(tally,)) for client in clients]
    began = tally.began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally, time.perf_counter() - began


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def one_round(args: argparse.Namespace, redis_url: str, seed: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        database_url = prepare(folder)
        with web_server(folder, database_url, redis_url, args.threads, args.workers) as port:
            clients = [Client(port, index) for index in range(args.clients)]
            warm, _ = run_phase(clients, args.warmup)
            before = count_instances(database_url)
            timed, elapsed = run_phase(clients, args.submits, args.rate, seed)
            after = count_instances(database_url)
        errors = {**warm.errors}
        for what, n in timed.errors.items():
            errors[what] = errors.get(what, 0) + n
        if errors:
            print(f"unexpected answers: {errors}", file=sys.stderr)
        if before != warm.redirects or after - before != timed.redirects:
            print(f"instances {before}+{after - before} for 303 answers "
                  f"{warm.redirects}+{timed.redirects}", file=sys.stderr)  # fmt: skip
    return {
        "submits_per_s": timed.redirects / elapsed,
        "p50_ms": 1000 * percentile(timed.posts, 0.50),
        "p95_ms": 1000 * percentile(timed.posts, 0.95),
        "form_get_p95_ms": 1000 * percentile(timed.gets, 0.95),
        "late_p95_ms": 1000 * percentile(timed.late, 0.95) if timed.late else 0.0,
        "errors": sum(errors.values()) + abs(before - warm.redirects),
        "instances": after - before,
        "lost_or_doubled": abs(after - before - timed.redirects),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--submits", type=int, default=2000, help="Timed submits per round.")
    parser.add_argument("--warmup", type=int, default=200, help="Untimed submits per round.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--rate",
        type=float,
        help="Open loop: requesters come at this many a second on average (Poisson), "
        "each served by a free client; without it every client submits back to back.",
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="Threads per server process (default: 1 under gunicorn, 4 under waitress).",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2 * (os.cpu_count() or 1) + 1,
        help="Server processes (1: waitress, more: gunicorn); gunicorn's advice by default.",
    )
    args = parser.parse_args()
    args.threads = args.threads or (WAITRESS_THREADS if args.workers == 1 else 1)
    with tempfile.TemporaryDirectory() as redis_folder, redis_server(Path(redis_folder)) as redis:
        rounds = [one_round(args, redis, seed) for seed in range(args.rounds)]
    medians = ("submits_per_s", "p50_ms", "p95_ms", "form_get_p95_ms")
    if args.rate:
        medians += ("late_p95_ms",)
    figures = {key: round(statistics.median(r[key] for r in rounds), 2) for key in medians}
    errors = sum(int(r["errors"] + r["lost_or_doubled"]) for r in rounds)
    instances = sum(int(r["instances"]) for r in rounds)
    print(json.dumps({"database": "sqlite", "clients": args.clients,
                      "load": f"open loop, {args.rate:g}/s" if args.rate else "closed loop",
                      **figures,
                      "submits": args.submits * args.rounds, "errors": errors,
                      "instances": instances, "server_threads": args.threads,
                      "server": "waitress" if args.workers == 1 else "gunicorn",
                      "server_workers": args.workers,
                      "rounds": args.rounds, "statistic": "median"}))  # fmt: skip
    if errors or instances != args.submits * args.rounds:
        sys.exit(1)


if __name__ == "__main__":
    main()
