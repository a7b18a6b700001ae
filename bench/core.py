"""Throughput of the pure runtime, with the state saved and loaded after every action.

Drives `it-incident` and `major-incident` instances to the end through
`engine.core.runtime` (mixed paths: password self-service, needs-info loops,
reopened incidents, escalation timers, rejected recovery plans), serializing the
state to JSON text and parsing it back after every action, as a server that
keeps instances in a database would. Each round draws its own paths and data (seed
`--seed` + round); the clock is wall time (`transitions_per_s`), with the process's
CPU time beside it. Prints one JSON line with the git commit and the parameters; the
figures are the median of the rounds.

    python bench/core.py [--instances 2000] [--rounds 5] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.catalog import Catalog  # noqa: E402
from engine.core import runtime  # noqa: E402
from engine.core.calendars import Calendar  # noqa: E402
from engine.core.definition import Workflow  # noqa: E402
from engine.core.events import Event, TaskCompleted, TimerFired  # noqa: E402
from engine.core.state import InstanceState  # noqa: E402

Choice = Callable[[random.Random], tuple[str, dict[str, Any]]]

#: How simulated people answer each step: an outcome and the data they enter.
POLICY: dict[str, Choice] = {
    "work": lambda r: ("needs_info", {"question": "Which printer?"})
    if r.random() < 0.25
    else ("resolved", {"resolution": "Replaced the toner.", "cause": "hardware-fault"}),
    "ask_requester": lambda r: ("done", {"reply": "The one on the 3rd floor."}),
    "confirm": lambda r: ("rejected", {"feedback": "Still broken."})
    if r.random() < 0.15
    else ("approved", {"feedback": "Thanks!"}),
    "plan": lambda r: ("done", {"plan": "Fail over to DC2.", "rollback": "Fail back.",
                                "eta_minutes": 30}),
    "review_plan": lambda r: ("rejected", {"comment": "Too risky."})
    if r.random() < 0.2
    else ("approved", {"comment": "Go."}),
    "execute_plan": lambda r: ("done", {"restored_at": "2026-11-23T10:00:00Z",
                                        "recovery_notes": "Failed over.",
                                        "needs_problem_record": r.random() < 0.5}),
    "status_update": lambda r: ("done", {}),
}  # fmt: skip


def incident_data(rng: random.Random) -> dict[str, Any]:
    return {
        "name": "Ada Lovelace",
        "email": "ada@example.org",
        "summary": "The printer on the 3rd floor is jammed",
        "description": "It blinks red and prints nothing.",
        "category": rng.choice(["password", "hardware", "software", "network", "access", "other"]),
        "impact": rng.choice(["high", "medium", "low"]),
        "urgency": rng.choice(["high", "medium", "low"]),
        "source": "portal",
    }


def major_data(rng: random.Random) -> dict[str, Any]:
    return {
        "summary": "Payments are down",
        "services": ["payments", "web-shop"],
        "customer_impact": "No customer can pay.",
        "started_at": "2026-11-23T08:55:00Z",
        "service_owner": "sam",
    }


def roundtrip(state: InstanceState) -> tuple[InstanceState, int]:
    """Save and load the state the way the store does (orjson into a JSON column)."""
    text = orjson.dumps(state.to_dict())
    return InstanceState.from_dict(orjson.loads(text)), len(text)


def next_event(state: InstanceState, workflow: Workflow, rng: random.Random) -> tuple[Event, str]:
    """Pick what happens next: mostly a person acting, sometimes an escalation timer."""
    if state.timers and (not state.tasks or rng.random() < 0.1):
        timer_id = min(state.timers, key=lambda t: state.timers[t].at)
        return TimerFired(timer_id), state.timers[timer_id].at
    task = rng.choice(sorted(state.tasks))
    step = state.runs[state.tasks[task].run].step
    outcome, data = POLICY[step](rng)
    return TaskCompleted(task, outcome, data, actor="bench"), ""


def drive(
    workflow: Workflow,
    data: dict[str, Any],
    start: datetime,
    rng: random.Random,
    calendars: Mapping[str, Calendar],
) -> tuple[int, list[int]]:
    """Run one instance to its end; return the transitions made and the state sizes seen."""
    now = start
    result = runtime.start(workflow, data, now, requester="ada", calendars=calendars)
    state, size = roundtrip(result.state)
    sizes, transitions = [size], 1
    while not state.ended:
        event, due = next_event(state, workflow, rng)
        now = max(now + timedelta(minutes=5), datetime.fromisoformat(due) if due else now)
        result = runtime.advance(workflow, state, event, now, calendars=calendars)
        state, size = roundtrip(result.state)
        sizes.append(size)
        transitions += 1
        if transitions > 500:
            raise RuntimeError(f"{workflow.key} did not end after 500 transitions")
    return transitions, sizes


def one_round(
    pack: Mapping[str, Workflow], calendars: Mapping[str, Calendar], instances: int, seed: int
) -> dict[str, float]:
    rng = random.Random(seed)
    start = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    transitions, sizes = 0, []
    began, cpu = time.perf_counter(), time.process_time()
    for index in range(instances):
        if index % 4 == 3:
            made, seen = drive(pack["major-incident"], major_data(rng), start, rng, calendars)
        else:
            made, seen = drive(pack["it-incident"], incident_data(rng), start, rng, calendars)
        transitions += made
        sizes.extend(seen)
    elapsed = time.perf_counter() - began
    cpu = time.process_time() - cpu
    return {
        "cpu_transitions_per_s": transitions / cpu,
        "transitions_per_s": transitions / elapsed,
        "ms_per_transition": elapsed * 1000 / transitions,
        "instances_per_s": instances / elapsed,
        "state_bytes_avg": statistics.fmean(sizes),
        "state_bytes_max": max(sizes),
        "transitions": transitions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    catalog = Catalog.read([ROOT / "workflows"])
    pack = {d.key: Workflow.from_document(d.content) for d in catalog.of_kind("workflow") if d.key}
    calendars = {
        d.key: Calendar.from_document(d.content) for d in catalog.of_kind("calendar") if d.key
    }
    one_round(pack, calendars, 50, args.seed - 1)  # compile the expressions, as a server has
    rounds = [
        one_round(pack, calendars, args.instances, args.seed + index)
        for index in range(args.rounds)
    ]
    figures: dict[str, Any] = {"commit": git_commit()}
    figures.update(
        (key, round(statistics.median(r[key] for r in rounds), 4 if key.startswith("ms") else 1))
        for key in rounds[0]
    )
    figures.update(
        instances=args.instances,
        rounds=args.rounds,
        seed=args.seed,
        statistic="median",
        load_1m=round(os.getloadavg()[0], 2),
    )
    print(json.dumps(figures))


def git_commit() -> str:
    """The commit measured, with `+` when the working tree differs from it."""

    def git(*words: str) -> str:
        return subprocess.run(
            ["git", *words], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()

    return git("rev-parse", "--short", "HEAD") + (
        "+" if git("status", "--porcelain", "engine") else ""
    )


if __name__ == "__main__":
    main()
