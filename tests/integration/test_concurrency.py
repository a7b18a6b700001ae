"""Many processes at once: every vote counted once, every decision made once, no number twice.

Eight OS processes, each with its own connection as web and worker processes
have in production, act on the same instances at the same moment. The children
run `tests/integration/workers.py`; this module plans their calls, judges every
answer they got, then checks the database row by row.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.core.state import InstanceState
from engine.service.commands import Commands
from engine.store.database import Database
from engine.store.instances import Command, Event, Instance, StepRun, Task, Timer
from engine.store.instances import Counter as NumberCounter
from tests.integration import workers
from tests.integration.conftest import INCIDENT, MAJOR, PEOPLE, Clock

#: Processes working at the same time.
WORKERS = 8
#: Major incidents whose three plan reviews the processes complete.
INSTANCES = 200
#: IT incidents each process starts in the numbering test.
STARTS_PER_WORKER = 25
#: Share of votes that reject, drawn from a seeded generator.
REJECT_SHARE = 0.2
SEED = 20261123
#: Seconds the children may take before the test calls them stuck (a deadlock).
DEADLINE = 300
#: Problems listed in a failure message, at most.
SHOWN = 20

#: The calls of one process, round by round.
Rounds = list[list[workers.Call]]

PLAN = {"plan": "Fail over to the standby region", "rollback": "Fail back", "eta_minutes": 20}


@dataclass(frozen=True, slots=True)
class Review:
    """An open review task of one instance, with who may vote on it."""

    instance_id: int
    task: int
    actor: str


@pytest.mark.long
def test_eight_processes_count_every_vote_once_and_decide_every_review_once(
    commands: Commands, database: Database, database_url: str, clock: Clock, tmp_path: Path
) -> None:
    reviews = open_plan_reviews(commands, INSTANCES)
    assert len(reviews) == 3 * INSTANCES
    planned, calls = plan_votes(reviews, random.Random(SEED))
    shares = deal(calls)
    decisions = Counter(expected_route(votes.values()) for votes in planned.values())
    assert decisions["recover"] > 0, "the votes must approve some reviews"
    assert decisions["plan"] > 0, "the votes must reject some reviews"

    answers = run_workers(database_url, clock, shares, tmp_path)

    by_key = judge(answers, shares)
    met = instances_voted_on_at_once(answers, planned)
    # Evidence that the test tests something: the votes really met (typically 150-200 on a
    # quiet machine, down to about 50 when other work shares its two cores).
    assert met >= INSTANCES // 8, f"only {met} instances got votes from two processes at once"
    succeeded = {key for key, given in by_key.items() if "ok" in given[0]}
    problems = check_reviews(database, planned, succeeded)
    assert not problems, report(f"{len(problems)} problems in the database", problems)


def test_eight_processes_starting_at_once_number_instances_without_gaps(
    commands: Commands, database: Database, database_url: str, clock: Clock, tmp_path: Path
) -> None:
    calls = [
        {
            "command": "start",
            "workflow": "it-incident",
            "data": INCIDENT,
            "requester": "alice",
            "key": f"start-{n}",
        }
        for n in range(WORKERS * STARTS_PER_WORKER)
    ]
    shares = deal(calls)

    answers = run_workers(database_url, clock, shares, tmp_path)

    by_key = judge(answers, shares)
    assert all("ok" in given[0] for given in by_key.values())
    count = WORKERS * STARTS_PER_WORKER
    with database.reading() as session:
        instances = list(session.scalars(select(Instance).order_by(Instance.seq)))
        saved = {row.key: row for row in session.scalars(select(Command))}
        last = session.get(NumberCounter, "INC")
        work = dict(
            session.execute(
                select(Task.instance_id, Task.assignee).where(Task.step == "work")
            ).all()
        )
    assert [i.number for i in instances] == [f"INC-{n:06d}" for n in range(1, count + 1)]
    assert [i.seq for i in instances] == list(range(1, count + 1))
    assert last is not None
    assert last.last == count
    assert sorted(saved) == sorted(by_key), "one saved command per idempotency key"
    numbers = {i.id: i.number for i in instances}
    for key, given in by_key.items():
        assert given[0]["ok"]["number"] == numbers[saved[key].instance_id], key
    # Round robin under the group's lock: the desktop-support pair alternates, by number.
    assert [work[i.id] for i in instances] == ["bob", "dan"] * (count // 2)


# Setting up ----------------------------------------------------------------------------------


def open_plan_reviews(commands: Commands, count: int) -> list[Review]:
    """Start `count` major incidents, write each plan, and return the open review tasks."""
    for _ in range(count):
        commands.start("major-incident", MAJOR, requester="alice")
    with commands.database.reading() as session:
        plans = list(session.scalars(select(Task.id).where(Task.step == "plan")))
    for plan in plans:  # ike writes the plans; the author of a plan never reviews it
        commands.complete(plan, "done", PLAN, actor="ike")
    with commands.database.reading() as session:
        tasks = session.scalars(
            select(Task)
            .where(Task.step == "review_plan", Task.status == "open")
            .order_by(Task.instance_id, Task.id)
        )
        return [Review(task.instance_id, task.id, task.assignee or member(task)) for task in tasks]


def member(task: Task) -> str:
    """Someone in the task's candidate group, who may therefore act on it."""
    return next(user for user, groups in PEOPLE.items() if task.candidate_group in groups)


def plan_votes(
    reviews: list[Review], rng: random.Random
) -> tuple[dict[int, dict[int, str]], list[workers.Call]]:
    """Draw every vote: return them by instance and task, and the calls that cast them."""
    planned: dict[int, dict[int, str]] = defaultdict(dict)
    calls = []
    for review in reviews:
        outcome = "rejected" if rng.random() < REJECT_SHARE else "approved"
        planned[review.instance_id][review.task] = outcome
        calls.append(
            {
                "command": "complete",
                "workflow": "major-incident",
                "task": review.task,
                "outcome": outcome,
                "data": {"comment": "Not like this"} if outcome == "rejected" else {},
                "actor": review.actor,
                "key": f"vote-{review.task}",
            }
        )
    return planned, calls


def deal(calls: list[workers.Call]) -> list[Rounds]:
    """Deal the calls out in turn: round r of worker w makes call `r * WORKERS + w`.

    The processes begin each round together, so neighbouring calls (the three votes
    on one instance) arrive at the same moment. Some calls are made again with the
    same key, as clients do when an answer is lost: by the same process at once, or
    by the next process in the same round, racing the first.
    """
    count = -(-len(calls) // WORKERS)
    shares: list[Rounds] = [[[] for _ in range(count)] for _ in range(WORKERS)]
    for index, call in enumerate(calls):
        worker, turn = index % WORKERS, index // WORKERS
        shares[worker][turn].append(call)
        if index % 5 == 0:
            shares[worker][turn].append(call)
        if index % 7 == 3:
            shares[(worker + 1) % WORKERS][turn].insert(0, call)
    return shares


def expected_route(votes: Iterable[str]) -> str:
    """Where a 2-of-3 review goes: the majority decides, whatever order the votes land in."""
    approvals = sum(vote == "approved" for vote in votes)
    return "recover" if approvals >= 2 else "plan"


# Running the processes -----------------------------------------------------------------------


def run_workers(
    url: str, clock: Clock, shares: list[Rounds], folder: Path
) -> list[list[dict[str, Any]]]:
    """Run one process per share, each round released at once; return their answers.

    The processes come from a fork server: a fresh interpreter (not a copy of this
    one, so no connection or lock of the test is inherited) that imports the worker
    module once and forks a clean child per share. Spawning each child instead costs
    every one of them the full import of the engine, seconds on a small machine.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([workers.__name__])
    barrier = context.Barrier(len(shares))
    processes = []
    for n, rounds in enumerate(shares):
        out = folder / f"worker-{n}.json"
        args = (url, clock().isoformat(), rounds, barrier, str(out))
        process = context.Process(target=workers.run, args=args, name=f"worker-{n}")
        process.start()
        processes.append((process, out))
    deadline = time.monotonic() + DEADLINE
    stuck = []
    for process, _ in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()
            stuck.append(process.name)
    assert not stuck, f"{', '.join(stuck)} did not finish in {DEADLINE} s: stuck on a lock?"
    answers = []
    for process, out in processes:
        assert process.exitcode == 0, f"{process.name} died with exit code {process.exitcode}"
        assert out.exists(), f"{process.name} wrote no answers"
        answers.append(json.loads(out.read_text()))
        process.close()
    return answers


def judge(
    answers: list[list[dict[str, Any]]], shares: list[Rounds]
) -> dict[str, list[dict[str, Any]]]:
    """Fail on any answer a user should not see; return the answers by idempotency key.

    A user may be told that their review was withdrawn because the review was
    decided before their vote arrived. Anything else (Busy, a database error, a
    traceback, a complaint that the task was already done) is a failure.
    """
    problems = []
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for worker, (given, rounds) in enumerate(zip(answers, shares, strict=True)):
        for answer in given:
            if "crash" in answer:
                problems.append(f"worker {worker}, {answer.get('key')}:\n{answer['crash']}")
            elif "error" in answer and not is_withdrawn(answer):
                problems.append(
                    f"worker {worker}, {answer['key']}: {answer['kind']}: {answer['message']}"
                )
            else:
                by_key[answer["key"]].append(answer)
        count = sum(len(calls) for calls in rounds)
        if not problems and len(given) != count:
            problems.append(f"worker {worker} answered {len(given)} of {count} calls")
    assert not problems, report("errors surfaced to users", problems)
    for key, given in by_key.items():
        results = [answer.get("ok") for answer in given]
        assert all(result == results[0] for result in results), (
            f"the repeats of {key} were answered differently: {results}"
        )
    asked = {call["key"] for rounds in shares for calls in rounds for call in calls}
    assert sorted(by_key) == sorted(asked)
    return by_key


def instances_voted_on_at_once(
    answers: list[list[dict[str, Any]]], planned: dict[int, dict[int, str]]
) -> int:
    """Count the instances on which two processes were voting at the same moment."""
    instance_of = {task: instance for instance, votes in planned.items() for task in votes}
    spans = defaultdict(list)
    for worker, given in enumerate(answers):
        for answer in given:
            spans[instance_of[answer["task"]]].append((answer["began"], answer["ended"], worker))
    return sum(
        any(a[2] != b[2] and a[0] < b[1] and b[0] < a[1] for a, b in combinations(calls, 2))
        for calls in spans.values()
    )


def is_withdrawn(answer: dict[str, Any]) -> bool:
    return answer["error"] == "conflict" and "was withdrawn" in answer["message"]


def report(title: str, problems: list[str]) -> str:
    more = f"\n... and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
    return f"{title}:\n" + "\n".join(problems[:SHOWN]) + more


# Checking the database -----------------------------------------------------------------------


@dataclass(slots=True)
class Saved:
    """One instance as stored: its row and everything hanging off it."""

    instance: Instance
    events: list[Event]
    tasks: list[Task]
    timers: list[Timer]
    runs: list[StepRun]


def load(database: Database) -> tuple[dict[int, Saved], dict[str, Command]]:
    with database.reading() as session:
        saved = {
            instance.id: Saved(instance, [], [], [], [])
            for instance in session.scalars(select(Instance))
        }
        for event in session.scalars(select(Event).order_by(Event.instance_id, Event.seq)):
            saved[event.instance_id].events.append(event)
        for task in session.scalars(select(Task).order_by(Task.id)):
            saved[task.instance_id].tasks.append(task)
        for timer in session.scalars(select(Timer)):
            saved[timer.instance_id].timers.append(timer)
        for run in session.scalars(select(StepRun)):
            saved[run.instance_id].runs.append(run)
        done = {row.key: row for row in session.scalars(select(Command))}
    return saved, done


def check_reviews(
    database: Database, planned: dict[int, dict[int, str]], succeeded: set[str]
) -> list[str]:
    """Return every way the stored instances break the rules of a concurrent review."""
    saved, done = load(database)
    problems = []
    if set(done) != succeeded:
        problems.append(
            f"saved commands {sorted(set(done) ^ succeeded)[:SHOWN]} do not match the answers"
        )
    assert sorted(saved) == sorted(planned)
    for instance_id, votes in planned.items():
        one = saved[instance_id]
        found = [
            *check_trail(one),
            *check_votes(one, votes, succeeded, done),
            *check_state(one),
        ]
        problems += [f"{one.instance.number}: {problem}" for problem in found]
    return problems


def check_trail(one: Saved) -> list[str]:
    """The event log: numbered 1..n with no gap or repeat, and the instance knows n."""
    seqs = [event.seq for event in one.events]
    problems = []
    if seqs != list(range(1, len(seqs) + 1)):
        problems.append(f"event numbers are {seqs}")
    if one.instance.last_event != len(seqs):
        problems.append(f"last_event is {one.instance.last_event}, {len(seqs)} events")
    return problems


def check_votes(
    one: Saved, votes: dict[int, str], succeeded: set[str], done: dict[str, Command]
) -> list[str]:
    """Each accepted vote is in the trail once; the review was decided once, by its quorum."""
    problems = []
    ids = {task.key: task.id for task in one.tasks}
    reviews = {task.id: task for task in one.tasks if task.step == "review_plan"}
    voted = [event for event in one.events if event.kind == "voted"]
    order = [ids[event.detail["task"]] for event in voted]
    accepted = {task for task in votes if f"vote-{task}" in succeeded}
    if len(order) != len(set(order)) or set(order) != accepted:
        problems.append(f"voted on tasks {order}, the service accepted {sorted(accepted)}")
    completed = {task.id for task in reviews.values() if task.status == "completed"}
    if completed != accepted:
        problems.append(f"completed reviews {sorted(completed)}, accepted {sorted(accepted)}")
    for event, task in zip(voted, order, strict=True):
        if not event.detail["vote"] == reviews[task].outcome == votes[task]:
            problems.append(
                f"task {task}: voted {event.detail['vote']}, saved {reviews[task].outcome}, "
                f"meant {votes[task]}"
            )
        saved = done.get(f"vote-{task}")
        if event.command != f"vote-{task}" or saved is None or saved.instance_id != one.instance.id:
            problems.append(f"the vote on task {task} came from command {event.command}")
    cast = [votes[task] for task in order]
    # The review is decided by the second vote when the two agree, else by the third.
    needed = 2 if cast[:1] * 2 == cast[:2] else 3
    if len(cast) != needed:
        problems.append(f"{len(cast)} votes counted ({cast}); the review needed {needed}")
    routed = [e.detail for e in one.events if e.kind == "routed" and e.step == "review_plan"]
    if [detail["to"] for detail in routed] != [expected_route(cast)]:
        problems.append(f"the review routed {routed} on the votes {cast}")
    if expected_route(cast) != expected_route(votes.values()):
        problems.append(f"the votes counted {cast} overturn the votes cast {votes}")
    statuses = sorted(task.status for task in reviews.values())
    if statuses != sorted(["completed"] * len(cast) + ["cancelled"] * (3 - len(cast))):
        problems.append(f"review task statuses are {statuses} after {len(cast)} votes")
    if one.instance.version != 2 + len(accepted):
        problems.append(f"version {one.instance.version}: start, plan and {len(accepted)} votes")
    return problems


def check_state(one: Saved) -> list[str]:
    """The state document and the tables tell the same story about what is still going on."""
    state, problems = InstanceState.from_dict(one.instance.state), []
    routed = [e.detail["to"] for e in one.events if e.kind == "routed" and e.step == "review_plan"]
    open_tasks = {task.key: task.step for task in one.tasks if task.status == "open"}
    if set(state.tasks) != set(open_tasks):
        problems.append(f"state tasks {sorted(state.tasks)}, open rows {sorted(open_tasks)}")
    after = {"recover": ["execute_plan", "status_update"], "plan": ["plan"]}
    if routed and sorted(open_tasks.values()) != after[routed[-1]]:
        problems.append(f"after routing to {routed} the open tasks are {open_tasks}")
    pending = {timer.key for timer in one.timers if timer.status == "pending"}
    if set(state.timers) != pending:
        problems.append(f"state timers {sorted(state.timers)}, pending rows {sorted(pending)}")
    finished = {run.run for run in one.runs}
    if set(state.runs) & finished or any(run.ended_at is None for run in one.runs):
        problems.append(f"state runs {sorted(state.runs)}, finished step runs {sorted(finished)}")
    return problems
