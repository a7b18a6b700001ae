"""SLA policy at run time: start, pause, re-target and stop an instance's clocks.

The runtime calls `follow` at the end of every turn, `end` when the instance ends,
`timer_fired` for an SLA timer and `retried` on a retry; each records what changed on
the timeline, in words, and keeps the warning and breach timers in step with the due
times. It asks `blocked` first: clocks whose calendar is not there cannot count, and
are left as they are.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine.core.assignment import notification, resolve_assignment
from engine.core.calendars import Calendar
from engine.core.clocks import (
    DEFAULT_WARN_AT,
    Clock,
    describe_target,
    elapsed,
    new_clock,
    pause,
    reason,
    resume,
    retarget,
    stop,
)
from engine.core.conditions import field_value, set_field_value
from engine.core.durations import describe_duration
from engine.core.effects import Notify, ReassignTask
from engine.core.errors import UnknownCalendar
from engine.core.state import StoppedBreach
from engine.core.turn import STEP_FAILURES

if TYPE_CHECKING:
    from engine.core.state import Timer
    from engine.core.turn import Turn

#: The clocks an SLA policy can run, in the order they are reported.
KINDS = ("response", "resolution")

#: What SLA timers, notifications and audit entries give as their step (no step owns them).
SLA_STEP = "sla"

#: How often one turn may re-target the clocks (a breach may raise the priority, which
#: may breach again); priorities only go up, so this is never reached by a sound workflow.
MAX_RETARGETS = 20


def blocked(turn: Turn) -> str | None:
    """Say why the clocks cannot be followed in this turn, in words; None if they can.

    Every clock counts in the policy's calendar: when it is not there (not published),
    a clock that counts, or one that would start now, cannot be worked out.
    """
    policy = turn.workflow.sla
    name = policy.get("calendar") if policy is not None else None
    if policy is None or name is None or name in turn.calendars:
        return None
    state = turn.state
    starting = state.sla is None and not state.ended and _level(turn) in policy["targets"]
    if not starting and next(_clocks(turn), None) is None:
        return None  # no clock counts and none starts: the calendar is not needed yet
    return f"the SLA counts in the business calendar '{name}', which is not known here"


def follow(turn: Turn, responded: bool) -> None:
    """Bring the SLA clocks in line with the instance at the end of a turn.

    Starts the clocks once the priority field holds a level with targets, re-targets
    them when the level changes, pauses and resumes them with the status, stops the
    response clock at the first response (`responded`: a person completed a task).
    The end of the instance stops the clocks through `end`, before it is recorded.
    """
    policy = turn.workflow.sla
    if policy is None:
        return
    state = turn.state
    if state.sla is None:
        level = _level(turn)
        if state.ended or level is None or level not in policy["targets"]:
            return
        _start(turn, policy, level)
    for _ in range(MAX_RETARGETS):  # a breach may raise the priority: follow it
        level = _level(turn)
        if level is None or level not in policy["targets"]:
            break  # no level with targets: keep counting towards the last one
        moved = [kind for kind, clock in _clocks(turn) if level != clock.level]
        if not moved:
            break
        for kind in moved:
            _retarget(turn, policy, kind, level)
    clocks = state.sla or {}
    if responded and "response" in clocks and clocks["response"].stopped_at is None:
        _stop(turn, policy, "response", "first response given")
    _follow_status(turn, policy)
    _rearm_lost(turn, policy)


def end(turn: Turn, why: str) -> None:
    """Stop every clock still counting: the instance is ending (`why`)."""
    policy = turn.workflow.sla
    if policy is None:
        return
    for kind, _clock in list(_clocks(turn)):
        _stop(turn, policy, kind, why)


def retried(turn: Turn) -> None:
    """Carry out the rest of each breach's `on_breach` actions that stopped on an incident.

    Once: the actions before the one that stopped stand, and are not done again.
    """
    policy = turn.workflow.sla or {}
    stopped, turn.state.stopped_breaches = turn.state.stopped_breaches, {}
    for kind, breach in stopped.items():
        turn.record("retried", SLA_STEP, f"retry after: {breach.incident}", clock=kind)
        _carry_out(turn, policy, kind, breach.why, breach.action)


def timer_fired(turn: Turn, timer_id: str, timer: Timer) -> None:
    """A warning or breach timer came due: record it, and on a breach run `on_breach`."""
    policy = turn.workflow.sla
    kind, _, what = (timer.sla or "").partition(":")
    clock = (turn.state.sla or {}).get(kind)
    if policy is None or clock is None or not clock.running:
        return  # the clock stopped or paused since: its timers mean nothing now
    if timer.at != (clock.warn_at if what == "warning" else clock.due_at):
        return  # the due time moved since this timer was set
    if what == "warning":
        _warn(turn, policy, kind, clock)
        _arm(turn, policy, kind, clock)  # now the breach timer
    else:
        _breach(turn, policy, kind, clock)


def _start(turn: Turn, policy: Mapping[str, Any], level: str) -> None:
    targets = policy["targets"][level]
    name = policy.get("calendar")
    calendar = _calendar(turn, name)
    turn.state.sla = {}
    for kind in KINDS:
        if kind in targets:
            clock = new_clock(level, targets[kind], name, turn.at, calendar, _warn_fraction(policy))
            turn.state.sla[kind] = clock
            turn.record(
                "sla_started",
                None,
                reason(kind, clock, turn.at, calendar),
                clock=kind,
                level=level,
                due=clock.due_at,
            )
            if turn.state.status not in policy.get("pause_while", ()):
                _arm(turn, policy, kind, clock)  # else it pauses at once: no timers to set


def _retarget(turn: Turn, policy: Mapping[str, Any], kind: str, level: str) -> None:
    clock = (turn.state.sla or {})[kind]
    calendar = _calendar(turn, clock.calendar)
    target = policy["targets"][level].get(kind)
    if target is None:
        _stop(turn, policy, kind, f"{level} has no {kind} target")
        clock.level = level
        return
    was = f"{clock.level} = {describe_target(clock.target, clock.calendar)}"
    retarget(clock, level, target, calendar, _warn_fraction(policy))
    spent = describe_duration(elapsed(clock, turn.at, calendar))
    why = f"{reason(kind, clock, turn.at, calendar)} (was {was}; {spent} already counted)"
    turn.record("sla_changed", None, why, clock=kind, level=level, due=clock.due_at)
    _arm(turn, policy, kind, clock)


def _follow_status(turn: Turn, policy: Mapping[str, Any]) -> None:
    status = turn.state.status
    pausing = status in policy.get("pause_while", ()) and not turn.state.ended
    for kind, clock in _clocks(turn):
        calendar = _calendar(turn, clock.calendar)
        if pausing and clock.paused_since is None:
            pause(clock, turn.at, status)
            words = status.replace("_", " ")
            spent = describe_duration(elapsed(clock, turn.at, calendar))
            why = f"{kind} clock paused while {words}, {spent} counted so far"
            turn.record("sla_paused", None, why, clock=kind, status=status)
            _disarm(turn, kind)
        elif pausing and status not in clock.paused_while:
            clock.paused_while.append(status)
        elif not pausing and clock.paused_since is not None:
            resume(clock, turn.at, calendar, _warn_fraction(policy))
            why = reason(kind, clock, turn.at, calendar)
            turn.record("sla_resumed", None, why, clock=kind, due=clock.due_at)
            _arm(turn, policy, kind, clock)


def _stop(turn: Turn, policy: Mapping[str, Any], kind: str, because: str) -> None:
    clock = (turn.state.sla or {})[kind]
    calendar = _calendar(turn, clock.calendar)
    stop(clock, turn.at, calendar, _warn_fraction(policy))
    _disarm(turn, kind)
    spent = describe_duration(elapsed(clock, turn.at, calendar))
    target = f"{clock.level} = {describe_target(clock.target, clock.calendar)}"
    # A breach already recorded stands: stopped at its very moment, the clock was not "met".
    late = clock.breached or turn.at > datetime.fromisoformat(clock.due_at)
    verdict = "missed" if late else "met"
    why = f"{kind} {verdict}: {because} after {spent} counted (target {target})"
    turn.record("sla_stopped", None, why, clock=kind, met=verdict == "met")


def _arm(turn: Turn, policy: Mapping[str, Any], kind: str, clock: Clock) -> None:
    """Set the next timer of a running clock (warning, else breach); a time past acts now.

    Only the next one: the breach timer is set when the warning fires, so a clock that
    pauses or moves (as most do) withdraws one timer, not two.
    """
    _disarm(turn, kind)
    if not clock.running:
        return
    if not clock.warned:
        if datetime.fromisoformat(clock.warn_at) > turn.at:
            turn.schedule(None, datetime.fromisoformat(clock.warn_at), sla=f"{kind}:warning")
            return
        _warn(turn, policy, kind, clock)
    if not clock.breached:
        if datetime.fromisoformat(clock.due_at) <= turn.at:
            _breach(turn, policy, kind, clock)
        else:
            turn.schedule(None, datetime.fromisoformat(clock.due_at), sla=f"{kind}:breach")


def _rearm_lost(turn: Turn, policy: Mapping[str, Any]) -> None:
    """Set again the next timer of a counting clock that has none.

    A clock that counts has its warning or breach timer pending until it breaches; one
    fired while the clocks could not count (see `blocked`) was used up for nothing.
    """
    armed = {(timer.sla or "").partition(":")[0] for timer in turn.state.timers.values()}
    for kind, clock in list(_clocks(turn)):
        if clock.running and not clock.breached and kind not in armed:
            _arm(turn, policy, kind, clock)


def _disarm(turn: Turn, kind: str) -> None:
    """Withdraw a clock's pending timers (its due time moved, or it paused or stopped)."""
    turn.cancel_timers(lambda timer: (timer.sla or "").partition(":")[0] == kind)


def _warn(turn: Turn, policy: Mapping[str, Any], kind: str, clock: Clock) -> None:
    clock.warned = True
    calendar = _calendar(turn, clock.calendar)
    share = round(_warn_fraction(policy) * 100)
    why = f"{kind} {share}% used; {reason(kind, clock, turn.at, calendar)}"
    turn.record("sla_warning", None, why, clock=kind, due=clock.due_at)


def _breach(turn: Turn, policy: Mapping[str, Any], kind: str, clock: Clock) -> None:
    clock.breached = True
    clock.warned = True
    calendar = _calendar(turn, clock.calendar)
    why = f"{kind} target missed: {reason(kind, clock, turn.at, calendar)}"
    turn.record("sla_breached", None, why, clock=kind, due=clock.due_at)
    _carry_out(turn, policy, kind, why, 0)


def _carry_out(turn: Turn, policy: Mapping[str, Any], kind: str, why: str, first: int) -> None:
    """Carry out a breach's `on_breach` actions, from the one at index `first` on.

    As with an escalation, one that cannot be carried out is an incident: the actions
    before it stand, the tasks stay as they are, and a retry goes on from it (`retried`).
    """
    actions = policy.get("on_breach", ())
    for index in range(first, len(actions)):
        ((name, arg),) = actions[index].items()
        try:
            breach_action(turn, name, arg, why)
        except STEP_FAILURES as error:
            incident = f"an action on the {kind} breach failed: {error}"
            turn.state.stopped_breaches[kind] = StoppedBreach(index, why, incident)
            turn.incident(SLA_STEP, incident)
            return


def breach_action(turn: Turn, kind: str, arg: Any, why: str) -> None:
    """Carry out one `on_breach` action, as an escalation rung would, on every open task."""
    tasks = tuple(turn.state.tasks)
    if kind == "notify":
        turn.emit(notification(turn, SLA_STEP, arg, tasks))
    elif kind == "remind":
        turn.emit(Notify(SLA_STEP, to=arg, template="reminder", tasks=tasks))
    elif kind == "reassign":
        assign = {arg: True} if isinstance(arg, str) else resolve_assignment(arg, turn)
        turn.emit(*(ReassignTask(task, assign, why) for task in tasks))  # all or none
        for task, pending in turn.state.tasks.items():
            pending.assign = assign
            step = turn.state.runs[pending.run].step
            turn.record("task_reassigned", step, why, task=task, assign=assign)
    elif kind == "raise_priority":
        raise_priority(turn, None, arg, why)
    # `complete` and `goto` finish a step; an instance-level breach has no step to finish.


def raise_priority(turn: Turn, step: str | None, arg: Any, why: str) -> None:
    """Make the instance more urgent: one level (`true`) or up to a named level."""
    levels = turn.workflow.priorities
    name = turn.workflow.priority_field
    current = field_value(turn.state.data, name)
    if arg is True and current not in levels:
        return  # no level to raise from: "one level more urgent" means nothing yet
    rank = levels.index(current) if current in levels else len(levels)
    wanted = max(rank - 1, 0) if arg is True else levels.index(arg)
    if wanted < rank:
        set_field_value(turn.state.data, name, levels[wanted])
        turn.record(
            "priority_changed",
            step,
            f"{current} -> {levels[wanted]}: {why}",
            priority=levels[wanted],
        )


def _clocks(turn: Turn) -> Iterator[tuple[str, Clock]]:
    """Yield the clocks that have not stopped."""
    for kind, clock in (turn.state.sla or {}).items():
        if clock.stopped_at is None:
            yield kind, clock


def _level(turn: Turn) -> str | None:
    """Return the priority level the instance is at (None when the field holds no text)."""
    level = field_value(turn.state.data, turn.workflow.priority_field)
    return level if isinstance(level, str) else None


def _warn_fraction(policy: Mapping[str, Any]) -> float:
    return float(policy.get("warn_at", DEFAULT_WARN_AT))


def _calendar(turn: Turn, name: str | None) -> Calendar | None:
    if name is None:
        return None
    if name not in turn.calendars:
        raise UnknownCalendar(f"the business calendar '{name}' is not known here")
    return turn.calendars[name]
