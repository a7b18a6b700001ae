"""Start a topology cold, run the Locust mix (bench/locustfile.py) headless, print one JSON line.

The stack is `flowdesk up` as `bench/portal.py` starts it (`--topology embedded` or
`production`: 2 gunicorn processes and 2 workers on PostgreSQL), with its workers
running; the agents the mix signs in as are created first. The JSON line gives, per
request type, the count, failures, p50 and p95 (ms, Locust's, from sending the request),
the `schedule` lag (how late users started: see the locustfile), the rate asked for and
the submits a second achieved, and the git commit.

    python bench/load.py [--topology embedded] [--rate 10] [--users 40] [--agents 4]
                         [--duration 60]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))  # after the packages: bench/designer.py is no package

from portal import flowdesk_up, git_commit  # noqa: E402

from engine.service.accounts import set_password  # noqa: E402
from engine.service.people import ensure_user  # noqa: E402
from engine.store.database import Database  # noqa: E402

# The locustfile's agents (its AGENT, AGENT_GROUP and DEFAULT_PASSWORD). Not imported from
# it: importing Locust patches this process for gevent, under threads already running.
AGENT = "loadagent{}"
AGENT_GROUP = "desktop-support"
DEFAULT_PASSWORD = "load-test-password"


def prepare_agents(database_url: str, count: int, password: str) -> None:
    """Create the agents the locustfile signs in as, in the group hardware incidents go to."""
    database = Database(database_url)
    try:
        with database.writer_session() as session, session.begin():
            for number in range(1, count + 1):
                username = AGENT.format(number)
                now = datetime.now(UTC)
                ensure_user(session, username, now, roles=["agent"], groups=[AGENT_GROUP])
                set_password(session, username, password, now)
    finally:
        database.dispose()


def run_locust(args: argparse.Namespace, url: str, prefix: Path) -> None:
    env = {**os.environ, "FLOWDESK_LOAD_RATE": str(args.rate),
           "FLOWDESK_LOAD_AGENTS": str(args.agents),
           "FLOWDESK_LOAD_PASSWORD": DEFAULT_PASSWORD}  # fmt: skip
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"),
               "--headless", "-u", str(args.users), "-r", str(args.users),
               "-t", f"{args.duration}s", "--host", url, "--csv", str(prefix),
               "--only-summary", "--loglevel", "WARNING"]  # fmt: skip
    # Locust exits 1 when any request failed; the failures are in the figures.
    subprocess.run(command, env=env, cwd=ROOT, check=False, stdout=subprocess.DEVNULL)


def read_stats(path: Path) -> dict[str, dict[str, float]]:
    found = {}
    with path.open() as stats:
        for row in csv.DictReader(stats):
            if row["Name"] == "Aggregated":
                continue
            found[row["Name"]] = {
                "count": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "p50_ms": float(row["50%"] or 0),
                "p95_ms": float(row["95%"] or 0),
                "per_s": round(float(row["Requests/s"]), 2),
            }
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topology", choices=("embedded", "production"), default="embedded")
    parser.add_argument("--rate", type=float, default=10, help="Public reports a second.")
    parser.add_argument("--users", type=int, default=40, help="Locust users, agents included.")
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--duration", type=int, default=60, help="Seconds of load.")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        with flowdesk_up(args.topology, folder) as stack:
            prepare_agents(stack.database_url, args.agents, DEFAULT_PASSWORD)
            run_locust(args, f"http://127.0.0.1:{stack.port}", folder / "locust")
        stats = read_stats(folder / "locust_stats.csv")
    failures = sum(int(s["failures"]) for name, s in stats.items() if name != "schedule")
    print(json.dumps({"bench": "load", "commit": git_commit(), "topology": args.topology,
                      "rate": args.rate, "users": args.users, "agents": args.agents,
                      "duration_s": args.duration,
                      "submits_per_s": stats.get("submit", {}).get("per_s", 0.0),
                      "failures": failures, "requests": stats,
                      "load_average": [load_before, os.getloadavg()[0]]}))  # fmt: skip
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
