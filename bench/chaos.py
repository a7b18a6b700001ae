"""The chaos suite: the production topology under load, its parts killed, its promises checked.

Starts a private PostgreSQL and a private Redis (bench/topology.py: servers of our
own on free ports, so they may be crashed and flushed), an SMTP sink, two gunicorn
web processes and two RQ workers (each with its periodic thread: the scheduler).
Then, round after round, for `--seconds`:

- requesters post the public `it-incident` form at `--rate` a second (open loop),
  each with its own summary and address, and never post again after an error (a
  second post would be a second request);
- `--timers` timed steps come due, spread over the round;
- three reviewers vote on `--votes` reviews (quorum all), each vote sent again after
  an error, and once more after it succeeded, with the same idempotency key;
- every `--every` seconds a random blow: SIGKILL a web process, a worker (and the
  scheduler in it), crash PostgreSQL (`pg_ctl -m immediate`) and start it, or kill
  Redis and start it empty (a flush). A killed process is started again after a moment,
  as a process manager would.

Then it lets the system settle and checks the invariants: every accepted submit (a
303) became exactly one instance, and no other submit more than one; no timer lost,
doubled or fired early; no vote lost or doubled; every outbox mail reached its
recipient, under one Message-ID (`mails_redelivered` counts repeats of the same
Message-ID: the relay delivers at least once, docs/adr/0013). One JSON line per
round; exits 1 at the first round that breaks one. See docs/chaos.md.

    python bench/chaos.py [--rounds 20] [--seconds 30] [--rate 10] [--every 2.5]
                          [--timers 150] [--votes 20] [--seed 1] [--keep]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bench.inbox import git_commit  # noqa: E402
from bench.timers import MIN_LEAD_S, WAITER  # noqa: E402
from bench.topology import (  # noqa: E402
    MailSink,
    PrivatePostgres,
    PrivateRedis,
    Stack,
    Submits,
    kill,
    portal_load,
    stop,
)
from engine.catalog import Document  # noqa: E402
from engine.jobs.mail import message_id  # noqa: E402
from engine.service.commands import Commands  # noqa: E402
from engine.service.definitions import load_folder, publish_all  # noqa: E402
from engine.service.people import ensure_user  # noqa: E402
from engine.settings import DEFAULT_SMTP_FROM  # noqa: E402
from engine.store.database import Database  # noqa: E402
from engine.store.instances import Event, Instance, Outbox, Task, Timer  # noqa: E402

VOTERS = ("voter0", "voter1", "voter2")
VOTE = {
    "kind": "workflow",
    "format": 1,
    "key": "bench-vote",
    "title": "Three reviewers vote",
    "first": "vote",
    "steps": {
        "vote": {
            "type": "review",
            "title": "Vote",
            "reviewers": [{"assign": {"user": user}} for user in VOTERS],
            "quorum": "all",
            "on": {"approved": "done", "rejected": "done"},
        },
        "done": {"type": "end"},
    },
}
#: What the chaos parts of the stack run with: short leases and backoffs, so that a round
#: settles in seconds rather than the production minutes (docs/chaos.md).
SETTINGS = {
    "FLOWDESK_OUTBOX_LEASE": "5",
    "FLOWDESK_OUTBOX_BACKOFF": "1",
    "FLOWDESK_OUTBOX_BACKOFF_MAX": "5",
    "FLOWDESK_OUTBOX_MAX_ATTEMPTS": "1000",
}
WEB_PROCESSES = 2
WORKERS = 2
BLOWS = ("kill_web", "kill_worker", "crash_postgres", "restart_redis")
#: How long a settling round may wait for timers, votes and mail to come through.
SETTLE_S = 120


class Deployment:
    """The processes of the stack, each restarted when it is found dead (a process manager)."""

    def __init__(self, stack: Stack, postgres: PrivatePostgres, redis: PrivateRedis) -> None:
        self.stack = stack
        self.postgres = postgres
        self.redis = redis
        self.lock = threading.Lock()
        self.web = [stack.start_web(f"web{n}") for n in range(WEB_PROCESSES)]
        self.workers = [stack.start_worker(f"worker{n}") for n in range(WORKERS)]
        self.unexpected_exits: list[str] = []

    def blow(self, what: str, rng: random.Random) -> None:
        """Strike one part of the stack, then bring it back after a moment."""
        if what == "kill_web":
            n = rng.randrange(len(self.web))
            kill(self.web[n])
            time.sleep(rng.uniform(0, 1))
            with self.lock:
                self.web[n] = self.stack.start_web(f"web{n}")
        elif what == "kill_worker":
            n = rng.randrange(len(self.workers))
            kill(self.workers[n])
            time.sleep(rng.uniform(0, 1))
            with self.lock:
                self.workers[n] = self.stack.start_worker(f"worker{n}")
        elif what == "crash_postgres":
            self.postgres.crash()
            time.sleep(rng.uniform(0, 1))
            self.postgres.start()
        elif what == "restart_redis":
            with self.lock:
                self.redis.restart(flush=True)
        else:
            raise ValueError(what)

    def revive(self) -> None:
        """Start again any process that stopped on its own (and note it: it is a finding)."""
        with self.lock:
            if not self.redis.alive():
                self.unexpected_exits.append(f"redis exited {self.redis.server.returncode}")
                self.redis.restart()
            for group, start in ((self.web, self.stack.start_web), (self.workers, None)):
                for n, child in enumerate(group):
                    if child.poll() is not None:
                        name = f"{'web' if start else 'worker'}{n}"
                        self.unexpected_exits.append(f"{name} exited {child.returncode}")
                        group[n] = (
                            self.stack.start_web(name) if start else self.stack.start_worker(name)
                        )

    def take_exits(self) -> list[str]:
        """The processes that stopped on their own since the last call."""
        with self.lock:
            found, self.unexpected_exits = self.unexpected_exits, []
        return found

    def close(self) -> None:
        stop(self.web + self.workers)


def retrying(what: Any, deadline: float) -> Any:
    """Call `what` until it answers or `deadline` passes (the database may be restarting)."""
    while True:
        try:
            return what()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def cast_votes(url: str, tasks: list[tuple[int, str]], seconds: float, rng: random.Random) -> int:
    """Vote on every task over `seconds`, each once more after success; return repeats sent."""
    database = Database(url)
    commands = Commands(database)
    repeats = 0
    began = time.monotonic()
    try:
        for n, (task_id, voter) in enumerate(tasks):
            time.sleep(max(0.0, began + seconds * n / len(tasks) - time.monotonic()))
            key = f"vote-{task_id}"

            def vote(task_id: int = task_id, voter: str = voter, key: str = key) -> Any:
                return commands.complete(task_id, "approved", actor=voter, key=key)

            retrying(vote, time.monotonic() + SETTLE_S)
            if rng.random() < 0.5:  # a double click, or a client that did not hear the answer
                retrying(vote, time.monotonic() + SETTLE_S)
                repeats += 1
    finally:
        database.dispose()
    return repeats


def prepare(url: str) -> None:
    database = Database(url)
    try:
        database.migrate()
        with database.writer_session() as session, session.begin():
            at = datetime.now(UTC)
            load_folder(session, ROOT / "workflows", at, "chaos")
            for user in VOTERS:
                ensure_user(session, user, at, name=user)
            documents = [Document(Path(f"{w['key']}.json"), w) for w in (WAITER, VOTE)]
            publish_all(session, documents, at, "chaos")
    finally:
        database.dispose()


@dataclass
class Round:
    """The objects one round made, to be checked when it has settled."""

    tag: str
    timers: list[int]
    votes: list[int]
    submits: Submits
    first_outbox: int


def begin_round(url: str, args: argparse.Namespace, tag: str) -> Round:
    """Start the round's timed steps and reviews (before the blows), through the service."""
    database = Database(url)
    commands = Commands(database)
    try:
        with database.reading() as session:
            first_outbox = int(session.scalar(select(func.max(Outbox.id))) or 0) + 1
        begin = datetime.now(UTC) + timedelta(seconds=MIN_LEAD_S + 2)
        rng = random.Random(tag)
        timers = []
        for n in range(args.timers):
            when = begin + timedelta(seconds=rng.uniform(0, args.seconds - 3))
            started = commands.start("bench-waiter", {"when": when.isoformat()}, key=f"t{tag}{n}")
            timers.append(int(started["instance_id"]))
        votes = [
            int(commands.start("bench-vote", {}, key=f"v{tag}{n}")["instance_id"])
            for n in range(args.votes)
        ]
    finally:
        database.dispose()
    return Round(tag, timers, votes, Submits(), first_outbox)


def open_votes(url: str, instances: list[int]) -> list[tuple[int, str]]:
    database = Database(url)
    try:
        with database.reading() as session:
            rows = session.execute(
                select(Task.id, Task.assignee).where(
                    Task.instance_id.in_(instances), Task.status == "open"
                )
            ).all()
    finally:
        database.dispose()
    return [(int(task_id), str(assignee)) for task_id, assignee in rows]


def settled(database: Database, round_: Round) -> bool:
    with database.reading() as session:
        pending_timers = session.scalar(
            select(func.count())
            .select_from(Timer)
            .where(Timer.instance_id.in_(round_.timers), Timer.status == "pending")
        )
        open_votes = session.scalar(
            select(func.count())
            .select_from(Task)
            .where(Task.instance_id.in_(round_.votes), Task.status == "open")
        )
        pending_mail = session.scalar(
            select(func.count())
            .select_from(Outbox)
            .where(
                Outbox.id >= round_.first_outbox,
                Outbox.kind == "notify",
                Outbox.status == "pending",
            )
        )
    return not (pending_timers or open_votes or pending_mail)


def check(database: Database, round_: Round, sink: MailSink) -> dict[str, Any]:
    """Count what each invariant found broken in the round."""
    outcome = round_.submits.outcome
    with database.reading() as session:
        titles = Counter(
            session.scalars(
                select(Instance.title).where(Instance.title.like(f"Chaos {round_.tag} %"))
            )
        )
        timers = session.execute(
            select(Timer.instance_id, Timer.due_at, Timer.fired_at, Timer.status).where(
                Timer.instance_id.in_(round_.timers)
            )
        ).all()
        fired = Counter(
            session.scalars(
                select(Event.instance_id).where(
                    Event.instance_id.in_(round_.timers), Event.kind == "timer_fired"
                )
            )
        )
        votes = Counter(
            session.scalars(
                select(Event.instance_id).where(
                    Event.instance_id.in_(round_.votes), Event.kind == "voted"
                )
            )
        )
        ended = session.scalar(
            select(func.count())
            .select_from(Instance)
            .where(Instance.id.in_(round_.votes), Instance.ended_at.is_not(None))
        )
        mails = session.execute(
            select(Outbox.id, Outbox.status, Outbox.payload).where(
                Outbox.id >= round_.first_outbox, Outbox.kind == "notify"
            )
        ).all()
    accepted = [s for s, o in outcome.items() if o == "303"]
    received = [m for m in sink.received() if any(f"-{round_.tag}-" in r for r in m.recipients)]
    by_id = Counter(m.message_id for m in received)
    ids_by_recipient: dict[str, set[str]] = {}
    for m in received:
        for r in m.recipients:
            ids_by_recipient.setdefault(r, set()).add(m.message_id)
    confirmations = [
        m
        for m in mails
        if isinstance(m.payload, dict) and m.payload.get("template") == "request-received"
    ]
    expected_ids = {message_id(m.id, DEFAULT_SMTP_FROM) for m in confirmations}
    late = [(t.fired_at - t.due_at).total_seconds() for t in timers if t.fired_at is not None]
    return {
        "submits": len(outcome),
        "accepted": len(accepted),
        "refused_or_unanswered": dict(Counter(o for o in outcome.values() if o != "303")),
        "accepted_not_one_instance": sum(1 for s in accepted if titles[s] != 1),
        "instances_doubled": sum(1 for n in titles.values() if n > 1),
        "timers": len(round_.timers),
        "timers_lost": sum(1 for t in timers if t.status == "pending")
        + len(round_.timers)
        - len(timers),
        "timers_doubled": sum(n - 1 for n in fired.values() if n > 1),
        "timers_early": sum(1 for x in late if x < 0),
        "timer_lateness_max_s": round(max(late), 2) if late else None,
        "votes": 3 * len(round_.votes),
        "votes_lost": sum(max(0, 3 - votes[i]) for i in round_.votes)
        + (len(round_.votes) - int(ended or 0)),
        "votes_doubled": sum(max(0, votes[i] - 3) for i in round_.votes),
        "mails": len(confirmations),
        "mails_not_sent": sum(1 for m in confirmations if m.status != "sent"),
        "mails_lost": len(expected_ids - set(by_id)),
        "mails_twice": sum(1 for ids in ids_by_recipient.values() if len(ids) > 1),
        "mails_redelivered": sum(n - 1 for i, n in by_id.items() if n > 1),
    }


BROKEN = (
    "accepted_not_one_instance", "instances_doubled", "timers_lost", "timers_doubled",
    "timers_early", "votes_lost", "votes_doubled", "mails_not_sent", "mails_lost", "mails_twice",
)  # fmt: skip


def run_round(
    deployment: Deployment, sink: MailSink, args: argparse.Namespace, number: int
) -> dict[str, Any]:
    stack = deployment.stack
    rng = random.Random(args.seed * 1000 + number)
    tag = f"{args.seed}x{number}x{uuid.uuid4().hex[:4]}"
    round_ = retrying(lambda: begin_round(stack.database_url, args, tag), time.monotonic() + 60)
    tasks = open_votes(stack.database_url, round_.votes)
    blows: Counter[str] = Counter()
    stopping = threading.Event()

    def strike() -> None:
        while not stopping.wait(rng.uniform(0.5, 1.5) * args.every):
            what = rng.choice(BLOWS)
            deployment.blow(what, rng)
            blows[what] += 1

    began = time.monotonic()
    voting_rng = random.Random(tag)
    repeats: list[int] = []
    threads = [
        threading.Thread(
            target=portal_load, args=(stack.port, args.rate, args.seconds, tag, round_.submits)
        ),
        threading.Thread(
            target=lambda: repeats.append(
                cast_votes(stack.database_url, tasks, args.seconds, voting_rng)
            )
        ),
        threading.Thread(target=strike),
    ]
    for thread in threads:
        thread.start()
    threads[0].join()
    stopping.set()
    for thread in threads[1:]:
        thread.join()
    deployment.revive()
    database = Database(stack.database_url)
    try:
        deadline = time.monotonic() + SETTLE_S
        while time.monotonic() < deadline:
            deployment.revive()
            if retrying(lambda: settled(database, round_), deadline):
                break
            time.sleep(1)
        time.sleep(1)  # the last mails' SMTP conversations end
        found = check(database, round_, sink)
    finally:
        database.dispose()
    broken = {name: found[name] for name in BROKEN if found[name]}
    return {
        "bench": "chaos",
        "round": number,
        "ok": not broken,
        "broken": broken,
        "blows": dict(blows),
        "vote_repeats": repeats[0] if repeats else None,
        "unexpected_exits": deployment.take_exits(),
        "seconds": round(time.monotonic() - began, 1),
        **found,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30, help="Length of a round's load.")
    parser.add_argument("--rate", type=float, default=10, help="Portal submits a second.")
    parser.add_argument("--every", type=float, default=2.5, help="Seconds between blows.")
    parser.add_argument("--timers", type=int, default=150, help="Timers due in each round.")
    parser.add_argument("--votes", type=int, default=20, help="Reviews of 3 votes per round.")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="Keep the folder (logs, data).")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="flowdesk-chaos-"))
    commit = git_commit()
    postgres = PrivatePostgres(folder / "postgres")
    redis = PrivateRedis(folder)
    sink = MailSink()
    deployment = None
    failed = 0
    try:
        prepare(postgres.url)
        stack = Stack(folder, postgres.url, redis.url, smtp_port=sink.port, extra=SETTINGS)
        deployment = Deployment(stack, postgres, redis)
        stack.wait_for_web()
        for number in range(1, args.rounds + 1):
            line = run_round(deployment, sink, args, number)
            print(json.dumps({"commit": commit, **line}), flush=True)
            if not line["ok"]:
                failed = number
                break
    finally:
        if deployment is not None:
            deployment.close()
        sink.close()
        redis.close()
        postgres.close()
        if args.keep or failed:
            print(f"logs and data kept in {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    passed = failed - 1 if failed else args.rounds
    summary = {"bench": "chaos", "commit": commit, "rounds": args.rounds,
               "passed_in_a_row": passed, "ok": not failed,
               "seconds": args.seconds, "rate": args.rate, "every": args.every}  # fmt: skip
    print(json.dumps(summary))
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
