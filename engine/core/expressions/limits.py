"""Hold one evaluation to its limits: what it may build, how long it may loop and work.

The limits are named here, with what a process owner is told when one is broken. The
budget of an evaluation lives in a context variable, so the hooks compiled into every
expression find it in any thread without signals, and a `Refusal` says what went over.

The time budget reads `time.perf_counter` and the thread's processor time. Neither is
the instance's clock (which is a parameter of the core): they never change what an
expression gives, only stop one that runs away.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from time import perf_counter, thread_time

#: Longest text an expression or template may build, and longest text a template may give.
MAX_TEXT_LENGTH = 100_000
#: Largest list or mapping an expression may build by repeating, adding or writing out
#: values (`*`, `+`, `[a, b]`), or give as its result, counting every item, key and
#: character inside it each time it occurs: `[text] * 10` counts the text ten times, as
#: storing, comparing or printing the list would. Also the most items a list may have.
MAX_VALUE_SIZE = 100_000
#: Most characters and items one evaluation may build in all, every value counted, even
#: those it throws away: this bounds the memory (a few dozen bytes an item at worst) and
#: the work of an evaluation however it is written.
MAX_BUILT_TOTAL = 500_000
#: Largest exponent of `**`.
MAX_EXPONENT = 100
#: Largest whole number, in bits (about 1,233 digits), arithmetic may build on the way.
MAX_INT_BITS = 4096
#: Widest field a `%` format may pad to: `'%08.2f' % cost` is fine, `'%0999999d' % 1` is not.
MAX_FORMAT_WIDTH = 100
#: Longest list `sort`, `dictsort` and `groupby` may sort: sorting runs in one piece, so
#: its length is what bounds its time.
MAX_SORT_ITEMS = 10_000
#: Most loop iterations one template render may run, all loops together (nested loops multiply).
MAX_LOOP_ITERATIONS = 10_000
#: Deepest nesting of `{% for %}` a template may hold: a title is one line, and loops three
#: deep can already run the 10,000 iterations a render may have.
MAX_LOOP_NESTING = 3
#: Time one evaluation may work, in seconds; checked at every loop iteration, read,
#: filter, call and built value, so an evaluation stops within one step of it. When the
#: clock says it is up, the thread's own processor time decides: on a busy server a thread
#: waits for a processor, and that wait must not fail a sound expression.
MAX_SECONDS = 0.050
#: Time on the clock after which an evaluation stops however long it waited for a processor:
#: a safety net, far above what any evaluation's work takes, so that only a thread starved
#: for a processor that long meets it. (It was 75 ms: a loaded machine then refused sound
#: expressions, and a workflow's path must not depend on how busy its server is.)
MAX_WALL_SECONDS = 1.0
#: Longest expression or template source: two and a half times what a workflow document
#: allows (2,000), and short enough that parsing it takes a few milliseconds.
MAX_SOURCE_LENGTH = 5_000
#: Deepest nesting of an expression's parts (operators, filters, brackets).
MAX_DEPTH = 100

#: What to say when an expression is too deep for the parser to follow.
TOO_DEEP = "the expression is nested too deeply; split it into simpler parts"
TOO_LONG = f"the text is longer than {MAX_SOURCE_LENGTH:,} characters"

#: How a refusal names what went over a limit: `the expression built <this>`.
OVERLONG_TEXT = f"a text longer than {MAX_TEXT_LENGTH:,} characters"
OVERSIZED_VALUE = f"a list or mapping holding more than {MAX_VALUE_SIZE:,} items and characters"
OVERLONG_LIST = f"a list longer than {MAX_VALUE_SIZE:,} items"
OVERSIZED_INT = f"a whole number larger than 2**{MAX_INT_BITS}"
_SECONDS = f"{MAX_SECONDS * 1000:.0f} ms"


class Refusal(Exception):
    """An expression stepped outside the sandbox or over a limit; the message says how."""


@dataclass(slots=True)
class Budget:
    """What one evaluation may still spend; `checking` is true while the checker folds constants.

    `deadline` is on the clock (`perf_counter`), which is cheap to read at every step;
    `started` and `worked_from` say when the evaluation began, on the clock and in the
    thread's processor time.
    """

    kind: str
    checking: bool = False
    loops: int = MAX_LOOP_ITERATIONS
    built: int = 0
    started: float = field(init=False)
    deadline: float = field(init=False)
    worked_from: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = perf_counter()
        self.deadline = self.started + MAX_SECONDS
        self.worked_from = thread_time()


#: The budget of the evaluation running in this context, if any.
BUDGET: ContextVar[Budget | None] = ContextVar("flowdesk_expression_budget", default=None)


def check_time(budget: Budget) -> None:
    """Stop an evaluation that has used its time; called once the clock passed the deadline."""
    now = perf_counter()
    worked = thread_time() - budget.worked_from
    if worked >= MAX_SECONDS:
        raise over_limit("took", "would take", f"longer than {_SECONDS}")
    if now - budget.started >= MAX_WALL_SECONDS:
        waited = f"longer than {MAX_WALL_SECONDS:g} s on the clock, waiting for a processor"
        raise over_limit("took", "would take", waited)
    budget.deadline = now + MAX_SECONDS - worked  # it waited: give it the rest of its time


def over_limit(done: str, would: str, what: str) -> Refusal:
    """Say what went over a limit: `the template looped more than ...` (or `would loop`)."""
    budget = BUDGET.get()
    kind = budget.kind if budget else "expression"
    return Refusal(f"the {kind} {would if budget and budget.checking else done} {what}")


def tick() -> None:
    """Stop the evaluation here if it has used its time."""
    budget = BUDGET.get()
    if budget is not None and perf_counter() > budget.deadline:
        check_time(budget)


def charge(size: int) -> None:
    """Count what was just built against the evaluation's budget."""
    budget = BUDGET.get()
    if budget is None:
        return
    budget.built += size
    if budget.built > MAX_BUILT_TOTAL:
        raise over_limit("built", "would build", f"more than {MAX_BUILT_TOTAL:,} characters in all")
    if perf_counter() > budget.deadline:
        check_time(budget)
