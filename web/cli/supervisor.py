"""The process supervisor of `flowdesk up`: start the parts, restart one that dies, stop all.

Each part (`Program`) is a child process with a name people recognise ("web",
"worker-2"). A child that dies on its own is named on the console with how it ended
and started again after a short pause that doubles with each death; one that dies
`RESTART_LIMIT` times within `RESTART_WINDOW_S` is broken, not unlucky, and then every
part is stopped and `up` fails rather than limp on
(docs/adr/0056-the-production-topology-gunicorn-behind-a-proxy-and-a-restarting-supervisor.md).
Stopping sends SIGTERM to every child, waits `STOP_GRACE_S`, then kills what is left.

On Linux each child is also told to die with its supervisor (PR_SET_PDEATHSIG), so a
supervisor killed with SIGKILL leaves no orphan serving or working on its own. Each child
runs in a process group of its own: a Ctrl-C at the terminal reaches the supervisor alone,
which stops the parts in their order (Redis last), rather than every part at once, a
worker then losing its Redis while it finishes.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.settings import EXIT_TEMPFAIL, STOP_GRACE_S

#: A part that dies this many times within `RESTART_WINDOW_S` seconds stops everything.
RESTART_LIMIT = 5
RESTART_WINDOW_S = 60.0
#: The first pause before a restart, doubled with each death in the window, up to the last.
RESTART_PAUSE_S = 0.5
RESTART_PAUSE_MAX_S = 8.0
#: How often the supervisor looks at its children.
WATCH_EVERY_S = 0.2

Echo = Callable[[str], None]


class SupervisorError(RuntimeError):
    """A part of the stack kept dying, or never became ready; everything was stopped."""


@dataclass
class Program:
    """One part of the stack: a name for people, the command and environment that run it."""

    name: str
    command: Sequence[str]
    env: Mapping[str, str]
    process: subprocess.Popen[bytes] | None = None
    deaths: list[float] = field(default_factory=list)
    restart_at: float | None = None
    #: What the others use (Redis, the mail catcher) stops after them, so that a worker
    #: finishing its job does not lose its Redis or its mail server under it.
    stops_last: bool = False

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self) -> None:
        self.process = subprocess.Popen(list(self.command), env=dict(self.env), **apart())
        self.restart_at = None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Supervisor:
    """Run programs as child processes; restart the ones that die; stop them all on request."""

    def __init__(
        self,
        programs: Sequence[Program],
        echo: Echo,
        *,
        first_pause_s: float = RESTART_PAUSE_S,
        waiting_pause_s: float = RESTART_PAUSE_MAX_S,
    ) -> None:
        self.programs = list(programs)
        self.echo = echo
        self.first_pause_s = first_pause_s
        #: The pause before starting again a part that waits for what it needs.
        self.waiting_pause_s = waiting_pause_s
        self.stopping = False

    def start(self) -> None:
        for program in self.programs:
            program.start()

    def add(self, program: Program) -> None:
        """Start one more program and watch it with the others."""
        program.start()
        self.programs.append(program)

    def request_stop(self, signum: int = 0, frame: object = None) -> None:
        """Ask `watch` to return (a signal handler: it only sets a flag)."""
        self.stopping = True

    def watch(self) -> None:
        """Watch the children until asked to stop; restart each one that dies.

        Raises `SupervisorError` when one dies too often; the caller stops everything.
        """
        while not self.stopping:
            self.check()
            time.sleep(WATCH_EVERY_S)

    def check(self) -> None:
        """Look at each child once: note a death, restart when its pause is over."""
        now = time.monotonic()
        for program in self.programs:
            if program.restart_at is not None:
                if now >= program.restart_at:
                    program.start()
                    self.echo(f"{program.name}: restarted (pid {program.pid})")
                continue
            if program.process is None or program.running():
                continue
            self._died(program, now)

    def _died(self, program: Program, now: float) -> None:
        assert program.process is not None
        how = _ending(program.process.returncode)
        if program.process.returncode == EXIT_TEMPFAIL:
            # What it needs does not answer yet (its database, restarting): not broken.
            # Tried again at the longest pause, for as long as it takes; the rest goes on.
            program.restart_at = now + self.waiting_pause_s
            self.echo(
                f"{program.name} (pid {program.pid}) waits for what it needs (it exited "
                f"{EXIT_TEMPFAIL}); trying again in {self.waiting_pause_s:g} s"
            )
            return
        program.deaths = [t for t in program.deaths if now - t < RESTART_WINDOW_S] + [now]
        if len(program.deaths) >= RESTART_LIMIT:
            raise SupervisorError(
                f"{program.name} (pid {program.pid}) {how}, its {len(program.deaths)}th death "
                f"within {RESTART_WINDOW_S:g} s; stopping everything"
            )
        pause = min(RESTART_PAUSE_MAX_S, self.first_pause_s * 2 ** (len(program.deaths) - 1))
        program.restart_at = now + pause
        self.echo(f"{program.name} (pid {program.pid}) {how}; restarting in {pause:g} s")

    def stop(self) -> None:
        """SIGTERM every child, wait up to `STOP_GRACE_S` for all, then kill what is left:
        the web app and the workers first, then what they use (`stops_last`)."""
        for last in (False, True):
            stop_processes(
                [p.process for p in self.programs if p.process is not None and p.stops_last == last]
            )


def stop_processes(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each process, wait up to `STOP_GRACE_S` for all, then kill what is left."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ending(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


_PR_SET_PDEATHSIG = 1


def apart() -> dict[str, Any]:
    """Popen's options for a part of the stack: its own process group (the terminal's
    Ctrl-C is the supervisor's to pass on), and dying with its parent."""
    return {"process_group": 0, "preexec_fn": die_with_parent()}


def die_with_parent() -> Callable[[], None] | None:
    """What the child runs before its command: ask Linux for SIGTERM when the parent dies.

    libc is looked up here, in the parent: between fork and exec a child may do little.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def ask() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return ask
