"""The supervisor of `flowdesk up` names a part that dies, restarts it, and gives up on one
that keeps dying."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from engine.settings import EXIT_TEMPFAIL
from tests.infrastructure import PG_URL
from web.cli.readiness import Readiness, Topology
from web.cli.stack import StopOnSignal
from web.cli.supervisor import RESTART_LIMIT, Program, Supervisor, SupervisorError

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
CRASHER = [sys.executable, "-c", "import sys; sys.exit(3)"]


def watch_until(supervisor: Supervisor, done: object, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline
        supervisor.check()
        time.sleep(0.02)


def test_a_killed_part_is_named_and_started_again() -> None:
    said: list[str] = []
    worker = Program("worker-2", SLEEPER, dict(os.environ))
    supervisor = Supervisor([], said.append, first_pause_s=0.01)
    supervisor.add(worker)
    try:
        first = worker.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        watch_until(supervisor, lambda: worker.pid != first and worker.running())
    finally:
        supervisor.stop()
    assert said[0] == f"worker-2 (pid {first}) was killed by SIGKILL; restarting in 0.01 s"
    assert said[1] == f"worker-2: restarted (pid {worker.pid})"
    assert not worker.running()  # stopped at the end


def test_a_part_that_keeps_dying_stops_everything() -> None:
    said: list[str] = []
    web = Program("web", SLEEPER, dict(os.environ))
    broken = Program("worker", CRASHER, dict(os.environ))
    supervisor = Supervisor([], said.append, first_pause_s=0.01)
    supervisor.add(web)
    supervisor.add(broken)
    try:
        with pytest.raises(SupervisorError, match=r"worker \(pid \d+\) exited with status 3"):
            watch_until(supervisor, lambda: False)
    finally:
        supervisor.stop()
    assert len([line for line in said if "restarting" in line]) == RESTART_LIMIT - 1
    assert not web.running()


def test_a_part_waiting_for_its_database_is_tried_again_for_as_long_as_it_takes() -> None:
    """A worker started while its database restarts exits at once: counted as deaths, it
    stopped the whole stack within 35 s, the web processes with it, so the pages went from
    "not ready" to no answer at all."""
    said: list[str] = []
    web = Program("web", SLEEPER, dict(os.environ))
    waiting = Program("worker", [sys.executable, "-c", f"import sys; sys.exit({EXIT_TEMPFAIL})"],
                      dict(os.environ))  # fmt: skip
    supervisor = Supervisor([], said.append, first_pause_s=0.01, waiting_pause_s=0.01)
    supervisor.add(web)
    supervisor.add(waiting)
    try:
        watch_until(supervisor, lambda: len([s for s in said if "waits" in s]) > RESTART_LIMIT)
        assert web.running()
    finally:
        supervisor.stop()
    assert re.fullmatch(
        r"worker \(pid \d+\) waits for what it needs \(it exited 75\); trying again in 0.01 s",
        said[0],
    )


def test_the_worker_exits_75_when_its_database_does_not_answer() -> None:
    env = {**os.environ, "FLOWDESK_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none"}
    ran = subprocess.run(
        [sys.executable, "-m", "engine.jobs", "--redis-url", "redis://127.0.0.1:9/0"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == EXIT_TEMPFAIL, ran.stderr
    assert "the database does not answer" in ran.stderr


@pytest.mark.skipif(PG_URL is None, reason="a PostgreSQL server that answers is needed")
def test_a_worker_whose_database_does_not_exist_is_broken_not_waiting() -> None:
    """A database that is not there (or a wrong password) will not come: waiting for it for
    ever would hide it behind "waits for what it needs"."""
    missing = make_url(str(PG_URL)).set(database="flowdesk_no_such_database")
    url = missing.render_as_string(hide_password=False)
    ran = subprocess.run(
        [sys.executable, "-m", "engine.jobs", "--redis-url", "redis://127.0.0.1:9/0"],
        env={**os.environ, "FLOWDESK_DATABASE_URL": url},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 2, ran.stderr
    assert "does not exist" in ran.stderr


def test_a_worker_dead_between_restarts_is_not_ready(tmp_path: Path) -> None:
    """`up` said "Flowdesk is up" with its worker dead (a setting that makes it exit at
    start): a worker not running was neither running nor registered, so none was missing."""
    worker = Program("worker", CRASHER, dict(os.environ))
    supervisor = Supervisor([], lambda _: None, first_pause_s=30)
    supervisor.add(worker)
    ready = Readiness(Topology("127.0.0.1", 9, None, 1, 1), "redis://127.0.0.1:9/0", tmp_path)
    try:
        watch_until(supervisor, lambda: not worker.running() and worker.restart_at is not None)
        assert "worker not running" in ready.missing(supervisor)
    finally:
        supervisor.stop()


def test_a_stack_still_starting_says_what_it_waits_for_then_gives_up_naming_it(
    tmp_path: Path,
) -> None:
    """On a busy machine the parts took tens of seconds to start, in silence: it read as a
    hang. Nothing answers here (port 9), so it says so, again and again, then stops."""
    said: list[str] = []
    supervisor = Supervisor([], said.append)
    ready = Readiness(Topology("127.0.0.1", 9, None, 0, 1), "redis://127.0.0.1:9/0", tmp_path)
    with pytest.raises(SupervisorError, match=r"^not ready after 1.5 s: .*/health does not"):
        ready.wait(supervisor, timeout_s=1.5, progress_every_s=0.4)
    assert len(said) >= 2, said
    assert all(
        re.fullmatch(r"Still starting \(\d s\), waiting for: http://127.0.0.1:9/health does "
                     r"not answer 200", line)
        for line in said
    ), said  # fmt: skip


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_ctrl_c_that_python_dropped_while_up_started_still_stops_it() -> None:
    """Python prints and drops a KeyboardInterrupt raised while a garbage collector's callback
    runs ("Exception ignored in"): CI saw `up` run on after a Ctrl-C that way. The flag the
    handler keeps stops the supervisor as soon as it takes over, and once it has, a signal
    only asks it to stop, so there is no exception left to drop."""

    class Thing:
        pass

    stop = StopOnSignal()
    thing = Thing()
    kept = weakref.ref(thing, lambda _gone: stop(signal.SIGINT, None))
    del thing  # the callback runs; its KeyboardInterrupt is dropped, not raised here
    assert kept() is None
    assert stop.asked

    supervisor = Supervisor([], [].append)
    stop.hand_to(supervisor)
    assert supervisor.stopping

    running = StopOnSignal()
    watched = Supervisor([], [].append)
    running.hand_to(watched)
    assert not watched.stopping
    running(signal.SIGTERM, None)  # raises nothing now
    assert watched.stopping
