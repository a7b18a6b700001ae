"""Checking and publishing big definitions, and what other writers see meanwhile.

For a 6,000-field form and a 500-step workflow (with its 56 forms) this measures, in
a fresh process each round (a designer's first publish in a web process that has not
checked anything yet):

- `check_s`: the checks a publish runs before it writes (schema, cross references,
  people), read-only, as `Definitions.publish` runs them;
- `publish_s`: the whole publish through the service layer, check and write;
- `writes_p95_ms` / `writes_max_ms`: the wall time of small commands (a comment on an
  instance, each its own transaction) made by `--writers` other processes *while* the
  publish runs, against `quiet_p95_ms`, the same commands with nothing being published.

Every round builds new documents (another key, so each publish writes a new version),
on a fresh database: a SQLite file, or a PostgreSQL schema when
`FLOWDESK_TEST_DATABASE_URL` is set. Prints one JSON line per database with the git
commit, the parameters and the medians over the rounds.

    python bench/checker.py [--fields 6000] [--segments 56] [--writers 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from engine.catalog import Document  # noqa: E402
from engine.service.bootstrap import Services  # noqa: E402
from engine.service.definitions import check_documents  # noqa: E402
from engine.store.database import Database  # noqa: E402
from tests.unit.forms.large import large_form  # noqa: E402

PACK = ROOT / "workflows"
INCIDENT = {
    "name": "Ada Lovelace", "email": "ada@example.org", "summary": "Printer jammed",
    "description": "It blinks red.", "category": "hardware", "impact": "medium", "urgency": "high",
}  # fmt: skip


def big_workflow(segments: int, key: str) -> list[dict[str, Any]]:
    """A sound workflow of `segments` x 9 steps and its `segments` forms: tasks with forms and
    escalations, decisions, actions, approvals and parallel steps, each segment reading
    what the one before filled in."""
    forms, steps = [], {}
    for index in range(segments):
        forms.append(
            {
                "kind": "form", "format": 1, "key": f"{key}-form-{index}", "title": f"Part {index}",
                "fields": [
                    {"key": f"amount_{index}", "type": "number", "label": "Amount",
                     "required": True, "min": 0},
                    {"key": f"kind_{index}", "type": "select", "label": "Kind",
                     "options": ["a", "b", "c"]},
                ],
            }
        )  # fmt: skip
        here, after = f"s{index}", f"s{index + 1}_task" if index + 1 < segments else "done"
        earlier = f"amount_{index - 1}" if index else "amount_start"
        steps[f"{here}_task"] = {
            "type": "task", "title": f"Work {index}: {{{{ {earlier} }}}}",
            "assign": {"group": "desk", "strategy": "round_robin"},
            "form": f"{key}-form-{index}",
            "escalate": [{"after": "PT1H", "do": [{"remind": "assignee"}]}],
            "on": {"ok": f"{here}_route", "again": f"{here}_task"},
        }  # fmt: skip
        steps[f"{here}_route"] = {
            "type": "decision",
            "branches": [
                {"when": {"field": f"kind_{index}", "op": "eq", "value": "a"},
                 "next": f"{here}_act"},
                {"when": f"amount_{index} > {earlier}", "next": f"{here}_approve"},
            ],
            "otherwise": f"{here}_par",
        }  # fmt: skip
        steps[f"{here}_act"] = {
            "type": "action",
            "set": {f"total_{index}": {"expr": f"amount_{index} + 1"}},
            "next": f"{here}_par",
        }
        steps[f"{here}_approve"] = {
            "type": "approval", "assign": {"group": "managers"},
            "auto_approve": {"field": f"amount_{index}", "op": "lt", "value": 500},
            "on": {"approved": f"{here}_par", "rejected": f"{here}_task"},
        }  # fmt: skip
        steps[f"{here}_par"] = {
            "type": "parallel",
            "branches": {
                "left": {"first": f"{here}_l", "steps": {
                    f"{here}_l": {"type": "task", "assign": {"group": "desk"},
                                  "next": f"{here}_le"},
                    f"{here}_le": {"type": "end"}}},
                "right": {"first": f"{here}_r", "steps": {
                    f"{here}_r": {"type": "wait", "for": "PT1H", "next": f"{here}_re"},
                    f"{here}_re": {"type": "end"}}},
            },
            "next": after,
        }  # fmt: skip
    steps["done"] = {"type": "end"}
    start_form = {
        "kind": "form", "format": 1, "key": f"{key}-start", "title": "Start",
        "fields": [{"key": "amount_start", "type": "number", "label": "Amount", "required": True}],
    }  # fmt: skip
    workflow = {
        "kind": "workflow", "format": 1, "key": key, "title": f"Big {key}",
        "start": {"form": f"{key}-start"}, "first": "s0_task", "steps": steps,
    }  # fmt: skip
    return [start_form, *forms, workflow]


def commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    return {"commit": git("rev-parse", "HEAD").strip(), "dirty": bool(git("status", "--porcelain"))}


# The writers: separate processes, as other web processes and workers would be ---------------


def writer(url: str, number: str, stop: Path, out: Path) -> None:
    """Comment on an instance again and again until `stop` exists; keep each one's times."""
    services = Services.open(url, upload_folder=tempfile.mkdtemp())
    times = []
    try:
        while not stop.exists():
            begun = time.time()
            services.commands.comment(number, "still on it", actor="bob", public=False)
            times.append((begun, time.time()))
    finally:
        services.close()
        out.write_text(json.dumps(times))


def writers(url: str, number: str, count: int, folder: Path) -> tuple[list[Any], Path]:
    stop = folder / "stop"
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, "--writer", url, number, str(stop), str(folder / f"w{i}")]
        )
        for i in range(count)
    ]
    return processes, stop


def collect(processes: list[Any], stop: Path, folder: Path) -> list[tuple[float, float]]:
    stop.touch()
    for process in processes:
        process.wait(timeout=120)
    found: list[tuple[float, float]] = []
    for index in range(len(processes)):
        found += [tuple(pair) for pair in json.loads((folder / f"w{index}").read_text())]
    return found


# One round: a fresh process publishes, the writers write -------------------------------------


def publisher(url: str, what: str, size: int, out: Path) -> None:
    """In a fresh process: check, then publish, the documents; keep the times."""
    key = f"big-{uuid.uuid4().hex[:8]}"
    if what == "form":
        docs = [{**large_form(size, key=key), "title": f"Large form {key}"}]
    else:
        docs = big_workflow(size, key)
    documents = [Document(Path(f"{d['key']}.json"), d) for d in docs]
    services = Services.open(url, upload_folder=tempfile.mkdtemp())
    try:
        begun = time.time()
        services.commands.read(lambda session: check_documents(session, documents))
        checked = time.time()
        published = services.definitions.publish(documents, "bench")
        done = time.time()
    finally:
        services.close()
    assert all(item.created for item in published), published
    out.write_text(json.dumps({"check": [begun, checked], "publish": [checked, done]}))


def round_on(url: str, what: str, size: int, count: int, folder: Path) -> dict[str, float]:
    services = Services.open(url, upload_folder=folder)
    number = str(services.commands.start("it-incident", INCIDENT, requester="ada")["number"])
    services.close()
    # Quiet: the same writers, nothing published.
    processes, stop = writers(url, number, count, folder / "quiet")
    time.sleep(3)
    quiet = collect(processes, stop, folder / "quiet")
    # Busy: the writers, while a fresh process checks and publishes.
    processes, stop = writers(url, number, count, folder / "busy")
    time.sleep(1)
    out = folder / "published.json"
    subprocess.run(
        [sys.executable, __file__, "--publisher", url, what, str(size), str(out)], check=True
    )
    busy = collect(processes, stop, folder / "busy")
    spans = json.loads(out.read_text())
    begun, ended = spans["publish"][0], spans["publish"][1]
    during = [end - start for start, end in busy if end >= begun and start <= ended]
    return {
        "check_s": spans["check"][1] - spans["check"][0],
        "publish_s": ended - begun,
        "writes_during": len(during),
        "writes_p95_ms": percentile(during, 95) * 1000,
        "writes_max_ms": max(during, default=0.0) * 1000,
        "quiet_p95_ms": percentile([end - start for start, end in quiet], 95) * 1000,
    }


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share / 100 * (len(ordered) - 1)))]


def prepare(url: str, folder: Path) -> None:
    """The shipped pack (creating its groups), the people the documents and writers use."""
    services = Services.open(url, upload_folder=folder)
    try:
        services.migrate()
        services.people.save_group("desk", "Desk", None)
        services.people.save_group("managers", "Managers", None)
        services.definitions.load_folder(PACK, "bench")
        services.people.save_user("bob", groups=["desktop-support", "desk"])
        services.people.save_user("ada")
    finally:
        services.close()


def databases() -> list[str]:
    kinds = ["sqlite"]
    if os.environ.get("FLOWDESK_TEST_DATABASE_URL"):
        kinds.append("postgresql")
    return kinds


def fresh_url(kind: str, folder: Path) -> tuple[str, Any]:
    if kind == "sqlite":
        return f"sqlite:///{folder}/bench.sqlite3", None
    base = os.environ["FLOWDESK_TEST_DATABASE_URL"]
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(Database(base).url)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{schema}", (admin, schema)


def drop(cleanup: Any) -> None:
    if cleanup is None:
        return
    admin, schema = cleanup
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fields", type=int, default=6000)
    parser.add_argument("--segments", type=int, default=56, help="9 steps each: 56 -> 504 steps")
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for kind in databases():
        figures: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for what, size in (("form", args.fields), ("workflow", args.segments)):
                with tempfile.TemporaryDirectory() as name:
                    folder = Path(name)
                    for part in ("quiet", "busy"):
                        (folder / part).mkdir()
                    url, cleanup = fresh_url(kind, folder)
                    try:
                        prepare(url, folder)
                        found = round_on(url, what, size, args.writers, folder)
                    finally:
                        drop(cleanup)
                for name, value in found.items():
                    figures.setdefault(f"{what}_{name}", []).append(value)
        print(
            json.dumps(
                {
                    "bench": "checker",
                    **commit(),
                    "database": kind,
                    "fields": args.fields,
                    "steps": args.segments * 9 + 1,
                    "writers": args.writers,
                    "rounds": args.rounds,
                    **{name: round(statistics.median(v), 3) for name, v in figures.items()},
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--writer":
        writer(sys.argv[2], sys.argv[3], Path(sys.argv[4]), Path(sys.argv[5]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--publisher":
        publisher(sys.argv[2], sys.argv[3], int(sys.argv[4]), Path(sys.argv[5]))
    else:
        main()
