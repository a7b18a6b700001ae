"""What observability costs a request: the same cheap page with metrics off, on, and with JSON logs.

Each round sends `--requests` GETs of `--path` to each variant of the app, taking turns every
100 requests, through Flask's test client (in process: no network, so the difference is the
per-request work itself). The default path, `/bench/ping`, is a route this script adds that
answers an empty 200: the cheapest page there is, so the observability work is the largest
share it can be. `--path /health` asks the database too. The variants:

- `off`: `FLOWDESK_METRICS=false` (the request id is still made and answered);
- `metrics`: latency observed per route;
- `metrics_json_info`: that, plus a JSON access log line per request (to /dev/null).

With `--multiprocess`, `PROMETHEUS_MULTIPROC_DIR` is set (a temporary folder) before
anything is imported, so the histograms are written to memory-mapped files as under
gunicorn. Wall-clock time; prints one JSON line with the git commit, the parameters, the
load average, per variant the median microseconds per request over the rounds, and the
median over the rounds of each round's difference (variants of one round ran side by side).

    python bench/observability.py [--requests 2000] [--rounds 9] [--path P] [--multiprocess]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Requests a variant answers before the next one takes its turn.
SLICE = 100


def arguments() -> argparse.Namespace:
    found = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    found.add_argument("--requests", type=int, default=2000)
    found.add_argument("--rounds", type=int, default=9)
    found.add_argument("--path", default="/bench/ping")
    found.add_argument("--multiprocess", action="store_true")
    return found.parse_args()


def main() -> None:
    args = arguments()
    with tempfile.TemporaryDirectory() as scratch:
        if args.multiprocess:  # before prometheus_client is imported, as a supervisor would
            os.makedirs(f"{scratch}/metrics")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = f"{scratch}/metrics"
        from engine.store.database import Database
        from web.app import create_app

        url = f"sqlite:///{scratch}/flowdesk.sqlite3"
        database = Database(url)
        database.migrate()
        database.dispose()
        base = {
            "TESTING": True,
            "DATABASE_URL": url,
            "SECRET_KEY": "bench-" * 8,
            "UPLOAD_FOLDER": f"{scratch}/files",
        }
        apps = {
            "off": create_app({**base, "METRICS": False}),
            "metrics": create_app(base),
            "metrics_json_info": create_app({**base, "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}),
        }
        for app in apps.values():
            app.add_url_rule("/bench/ping", "bench_ping", lambda: "")
        # The last app configured logging for the process; only its variant should log.
        quiet = {"off": "WARNING", "metrics": "WARNING", "metrics_json_info": "INFO"}
        timings: dict[str, list[float]] = {name: [] for name in apps}
        for name, app in apps.items():  # warm up: first requests compile templates, connect
            _run(app, args.path, 200, quiet[name])
        # Variants take turns every `SLICE` requests: the machine's load, which other work
        # moves by the second, then weighs on each alike.
        slices = max(1, args.requests // SLICE)
        for _round in range(args.rounds):
            spent = dict.fromkeys(apps, 0.0)
            for _slice in range(slices):
                for name, app in apps.items():
                    spent[name] += _run(app, args.path, args.requests // slices, quiet[name])
            for name in apps:
                timings[name].append(spent[name])
        for app in apps.values():
            app.extensions["flowdesk"].close()
    medians = {name: statistics.median(t) / args.requests * 1e6 for name, t in timings.items()}

    def added(variant: str, base: str) -> float:
        pairs = zip(timings[variant], timings[base], strict=True)
        return statistics.median(a - b for a, b in pairs) / args.requests * 1e6

    print(
        json.dumps(
            {
                "bench": "observability",
                "commit": _commit(),
                "requests": args.requests,
                "rounds": args.rounds,
                "path": args.path,
                "multiprocess": args.multiprocess,
                "load_1m": os.getloadavg()[0],
                "us_per_request": {name: round(value, 1) for name, value in medians.items()},
                "metrics_overhead_us": round(added("metrics", "off"), 1),
                "json_info_log_overhead_us": round(added("metrics_json_info", "metrics"), 1),
            }
        )
    )


def _run(app: object, path: str, count: int, level: str) -> float:
    import logging

    from flask import Flask

    assert isinstance(app, Flask)
    logging.getLogger().setLevel(level)
    client = app.test_client()
    with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):
        began = time.perf_counter()
        for _ in range(count):
            response = client.get(path)
            assert response.status_code == 200, response.status_code
        return time.perf_counter() - began


def _commit() -> str:
    found = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    return found.stdout.strip() + ("-dirty" if dirty.strip() else "")


if __name__ == "__main__":
    main()
