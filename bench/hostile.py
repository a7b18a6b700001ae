"""The hostile corpus, timed: how long each entry takes to be refused or stopped, and its memory.

Every entry of `tests/unit/hostile_expressions.json` (expressions, templates and conditions
written to hurt) is checked, compiled and run as the engine does (`tests/unit/hostile.py`).
Each round is a fresh process, so the first compile of every expression is paid as a
starting worker pays it. Prints one JSON line with the commit and:

- `max_ms`, `p95_ms`, `p50_ms`: per entry, the longer of checking and running; the slowest
  entry, the 95th percentile and the median over the corpus (medians over the rounds);
- `slowest`: the note of the entry that was slowest in most rounds;
- `peak_mb`: the most memory one entry allocated (tracemalloc), over the corpus and rounds;
- `rss_growth_mb`: how much the process's resident high-water mark grew over a whole walk of
  the corpus, past what starting and importing took;
- `over_100ms`, `over_64mb`: entries past the bounds of issue 15 (target: 0 each), counted on
  their median time and their largest allocation.

    python bench/hostile.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BOUND_MS = 100.0
BOUND_MB = 64.0


def commit() -> dict[str, Any]:
    """Return the commit measured, and whether the working tree had changes on top of it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def walk() -> dict[str, Any]:
    """One round, in this process: every entry timed, then every entry's peak memory."""
    from tests.unit.hostile import CORPUS, attempt, context_of

    started_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds: dict[str, float] = {}
    outcomes: Counter[str] = Counter()
    for entry in CORPUS:
        outcome, checking, running = attempt(entry, context_of(entry))
        outcomes[outcome] += 1
        seconds[entry["note"]] = max(checking, running)
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - started_kb
    peaks: dict[str, float] = {}
    for entry in CORPUS:
        context = context_of(entry)
        tracemalloc.start()
        try:
            attempt(entry, context)
            peaks[entry["note"]] = tracemalloc.get_traced_memory()[1] / 2**20
        finally:
            tracemalloc.stop()
    return {
        "ms": {note: value * 1000 for note, value in seconds.items()},
        "peak_mb": peaks,
        "outcomes": dict(outcomes),
        "rss_growth_mb": grown_kb / 1024,
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--walk", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.walk:
        print(json.dumps(walk()))
        return

    rounds = []
    for _ in range(args.rounds):
        done = subprocess.run(
            [sys.executable, __file__, "--walk"], cwd=ROOT, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise SystemExit(f"a round failed:\n{done.stderr}")
        rounds.append(json.loads(done.stdout))

    notes = list(rounds[0]["ms"])
    median_ms = {note: statistics.median(r["ms"][note] for r in rounds) for note in notes}
    largest_mb = {note: max(r["peak_mb"][note] for r in rounds) for note in notes}
    slowest = Counter(max(r["ms"], key=r["ms"].__getitem__) for r in rounds).most_common(1)[0][0]

    def over_rounds(figure: Any) -> float:
        return round(statistics.median(figure(r) for r in rounds), 2)

    figures: dict[str, Any] = commit()
    figures.update(
        rounds=args.rounds,
        entries=len(notes),
        outcomes=rounds[0]["outcomes"],
        max_ms=over_rounds(lambda r: max(r["ms"].values())),
        p95_ms=over_rounds(lambda r: percentile(list(r["ms"].values()), 95)),
        p50_ms=over_rounds(lambda r: percentile(list(r["ms"].values()), 50)),
        slowest=slowest,
        peak_mb=round(max(largest_mb.values()), 2),
        rss_growth_mb=over_rounds(lambda r: r["rss_growth_mb"]),
        over_100ms=sum(value > BOUND_MS for value in median_ms.values()),
        over_64mb=sum(value > BOUND_MB for value in largest_mb.values()),
        statistic="median",
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
