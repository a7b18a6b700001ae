"""An alert storm through the embedded stack: 10,000 alerts in 1,000 groups within 60 s.

Starts `flowdesk up` (the web app under waitress, a real RQ worker, the embedded Redis and the
mail catcher) on a fresh SQLite instance folder, adds a service and an Alertmanager
integration with the command line, then sends Alertmanager webhook notifications (format
version 4) as Alertmanager would in a storm: each of `--groups` groups has `--alerts` alerts;
its first notification holds half of them, its second all of them, and one notification in
ten is delivered twice (a sender's retry). The notifications arrive at random (Poisson)
within `--window` seconds, sent by 32 client threads, so the rate is what the window says
whatever the server answers. Then it waits for the worker to settle and reads the database:

- `incidents`: instances of the service (goal: exactly one per group);
- `lost`: alerts (by fingerprint) sent but kept on no incident; `doubled`: groups with more
  than one incident, or alerts kept on another group's incident;
- `intake_ms`: wall-clock p50 / p95 of each notification's answer (goal: p95 < 50 ms).

Prints one JSON line with the git commit and the parameters; exits 1 when a goal is missed.

    python bench/intake.py [--groups 1000] [--alerts 10] [--window 60]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from engine.store.database import Database  # noqa: E402
from engine.store.instances import Instance  # noqa: E402
from engine.store.services import Alert  # noqa: E402

CLIENTS = 32
START_DATA = {
    "name": "Monitoring", "email": "noc@example.org", "category": "software",
    "impact": "medium", "urgency": "medium",
}  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def flowdesk(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "web", *args], env=env, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(f"flowdesk {' '.join(args)}: {done.stdout}{done.stderr}")
    return done.stdout


def wait_for_health(port: int, stack: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.poll() is not None:
            raise RuntimeError("flowdesk up stopped before it answered")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError("flowdesk up did not answer /health in time")


def alert(group: int, n: int) -> dict[str, Any]:
    labels = {"alertname": "HighLatency", "service": "payments", "instance": f"node-{group}-{n}",
              "severity": "critical" if group % 10 == 0 else "warning"}  # fmt: skip
    return {
        "status": "firing", "labels": labels,
        "annotations": {"summary": f"Latency over 2 s on node-{group}-{n}"},
        "startsAt": "2026-12-06T18:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph", "fingerprint": f"{group:04x}{n:04x}",
    }  # fmt: skip


def notification(group: int, alerts: list[dict[str, Any]]) -> bytes:
    key = f'{{}}:{{alertname="HighLatency", group="{group}"}}'
    body = {
        "version": "4", "groupKey": key, "truncatedAlerts": 0, "status": "firing",
        "receiver": "flowdesk", "groupLabels": {"alertname": "HighLatency", "group": str(group)},
        "commonLabels": {"alertname": "HighLatency"}, "commonAnnotations": {},
        "externalURL": "http://alertmanager.example", "alerts": alerts,
    }  # fmt: skip
    return json.dumps(body).encode()


def plan(
    groups: int, per_group: int, window: float, rng: random.Random
) -> list[tuple[float, bytes]]:
    """(when, body) of every notification, in time order: per group, half its alerts, then all
    of them a little later; one in ten sent twice."""
    sends: list[tuple[float, bytes]] = []
    for group in range(groups):
        every = [alert(group, n) for n in range(per_group)]
        first = rng.uniform(0, window * 0.7)
        second = min(window, first + rng.uniform(1, window * 0.3))
        for when, alerts in ((first, every[: per_group // 2 or 1]), (second, every)):
            body = notification(group, alerts)
            sends.append((when, body))
            if rng.random() < 0.1:
                sends.append((min(window, when + rng.uniform(0.05, 2)), body))
    return sorted(sends, key=lambda send: send[0])


def storm(port: int, token: str, sends: list[tuple[float, bytes]]) -> tuple[list[float], list[str]]:
    """Send every notification at its time; return each answer's ms and any failures."""
    timings: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    cursor = iter(sends)
    began = time.perf_counter()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        while True:
            with lock:
                send = next(cursor, None)
            if send is None:
                return
            when, body = send
            delay = began + when - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            start = time.perf_counter()
            connection.request("POST", "/intake/alertmanager", body=body, headers=headers)
            answer = connection.getresponse()
            said = answer.read()
            elapsed = (time.perf_counter() - start) * 1000
            with lock:
                timings.append(elapsed)
                if answer.status >= 300:
                    failures.append(f"{answer.status}: {said[:200]!r}")

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return timings, failures


def kept(database: Database, groups: int, per_group: int) -> dict[str, int]:
    """What the database holds: incidents, and alerts lost or doubled, by fingerprint."""
    with database.reading() as session:
        incidents = int(
            session.scalar(
                select(func.count()).select_from(Instance).where(Instance.service_key == "storm")
            )
            or 0
        )
        rows = session.execute(select(Alert.instance_id, Alert.dedup_key, Alert.body)).all()
    group_of_key = re.compile(r'group="(\d+)"')
    incident_of_group: dict[int, set[int]] = {}
    seen: dict[str, set[int]] = {}
    for instance_id, key, body in rows:
        found = group_of_key.search(key)
        if found is None:
            continue
        incident_of_group.setdefault(int(found.group(1)), set()).add(instance_id)
        for item in body.get("alerts", []):
            seen.setdefault(item["fingerprint"], set()).add(instance_id)
    sent = {f"{g:04x}{n:04x}" for g in range(groups) for n in range(per_group)}
    doubled_groups = sum(1 for ids in incident_of_group.values() if len(ids) > 1)
    return {
        "incidents": incidents,
        "groups_with_an_incident": len(incident_of_group),
        "lost": len(sent - set(seen)),
        "doubled": doubled_groups + sum(1 for ids in seen.values() if len(ids) > 1),
    }


def commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    return {"commit": git("rev-parse", "HEAD").strip(), "dirty": bool(git("status", "--porcelain"))}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--alerts", type=int, default=10, help="Alerts in each group.")
    parser.add_argument("--window", type=float, default=60.0, help="Seconds the storm lasts.")
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="flowdesk-intake-") as name:
        folder = Path(name)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWDESK_", "REDIS_URL"))}
        env["FLOWDESK_INSTANCE_PATH"] = str(folder / "instance")
        port = free_port()
        log = (folder / "up.log").open("wb")
        stack = subprocess.Popen(
            [sys.executable, "-m", "web", "up", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_for_health(port, stack)
            data = json.dumps(START_DATA)
            owner = ("--owner-group", "service-desk", "--start-data", data)
            flowdesk(env, "service", "add", "storm", "--name", "Storm", *owner)
            said = flowdesk(env, "integration", "add", "storm", "alertmanager", "bench")
            token = re.findall(r"\b[0-9a-f]{32}\b", said)[-1]
            sends = plan(args.groups, args.alerts, args.window, rng)
            began = time.perf_counter()
            timings, failures = storm(port, token, sends)
            storm_s = time.perf_counter() - began
            if failures:
                raise RuntimeError(f"{len(failures)} refused, e.g. {failures[0]}")
            database = Database(f"sqlite:///{folder / 'instance' / 'flowdesk.sqlite3'}")
            found = kept(database, args.groups, args.alerts)
            database.dispose()
        except BaseException:
            log.flush()
            print((folder / "up.log").read_text()[-4000:], file=sys.stderr)
            raise
        finally:
            stack.terminate()
            stack.wait(timeout=60)
            log.close()
    result = {
        "bench": "intake", **commit(), "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": "sqlite", "groups": args.groups, "alerts_per_group": args.alerts,
        "window_s": args.window, "notifications": len(sends),
        "storm_s": round(storm_s, 1),
        "intake_ms": {"p50": round(statistics.median(timings), 1),
                      "p95": round(percentile(timings, 0.95), 1),
                      "max": round(max(timings), 1)},
        **found,
    }  # fmt: skip
    print(json.dumps(result), flush=True)
    met = (
        found["incidents"] == args.groups
        and found["lost"] == 0
        and found["doubled"] == 0
        and result["intake_ms"]["p95"] < 50
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
