"""The hostile corpus (`tests/unit/hostile.py`): every entry is refused or stopped, harmlessly.

The acceptance bounds of issue 15 are: refused at check, or stopped at run time within
100 ms and 64 MB, with the process alive afterwards. Memory and survival are checked here;
the time each entry takes is a figure for `bench/hostile.py` to print (speed is never a
timed unit test), so here time only guards against an entry that hangs instead of stopping.
"""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest

from engine.core.expressions import compile_expression, compile_template
from tests.unit.hostile import CORPUS, attempt, context_of

BOUND_BYTES = 64 * 1024 * 1024
#: Fifty times the 100 ms target: above what a loaded machine's noise adds (a shared CI
#: box running three test processes), far below a hang.
HANG_SECONDS = 5.0


def peak_bytes(entry: dict[str, Any], context: dict[str, Any]) -> int:
    tracemalloc.start()
    try:
        attempt(entry, context)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_corpus_holds_enough_entries_each_named_once() -> None:
    notes = [entry["note"] for entry in CORPUS]
    assert len(CORPUS) >= 120
    assert len(set(notes)) == len(notes)
    assert {entry["kind"] for entry in CORPUS} == {"expression", "template", "condition"}


@pytest.mark.parametrize("entry", CORPUS, ids=[entry["note"] for entry in CORPUS])
def test_hostile_entry_is_refused_or_stopped_within_bounds(entry: dict[str, Any]) -> None:
    context = context_of(entry)
    outcome, checking, running = attempt(entry, context)
    assert outcome in ("refused", "stopped")
    assert max(checking, running) <= HANG_SECONDS, "it hung instead of stopping"
    peak = peak_bytes(entry, context)
    assert peak <= BOUND_BYTES, f"allocated {peak / 2**20:.1f} MB at the peak"
    # The process is unharmed: a sound expression and template still work.
    assert compile_expression("cost * 2 + 1")({"cost": 20}) == 41
    assert (
        compile_template("{% for t in tags %}[{{ t }}]{% endfor %}")({"tags": [1, 2]}) == "[1][2]"
    )
