"""Which fields can exist at each step, and what they hold: reaching definitions.

A *definition* is one place that writes a field: the start form, a task's form, an
action's `set`, an escalation's `raise_priority`. A definition reaches a step when
some route leads from it to the step without another write of the field on the way
(a `set` always replaces the value; a form replaces only the fields it surely holds
once sent: required, given a default, or required on the outcome whose route is
taken). A field exists at a step when one of its definitions reaches it, and it holds what
any of the reaching definitions may have written: that is what conditions are
checked against.

A field may also be *missing* at a step: an "absent" definition, placed at the start
for every field the start form does not require, reaches the step. Arithmetic on a
field that may be missing fails while an instance runs.

Definitions are numbered and every set of them is one Python int used as a bitset,
so the analysis is a handful of word operations per route, repeated until nothing
changes: linear in practice, even for workflows of hundreds of steps.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from engine.core.checker.escalations import outcomes
from engine.core.fields import FieldInfo, type_of_literal, type_of_values
from engine.core.schema import iter_steps

#: Form key -> the fields it fills in; None for a form too broken to read (reported itself).
Forms = Mapping[str, tuple[FieldInfo, ...] | None]


@dataclass(frozen=True, slots=True)
class Child:
    """What a workflow started as a subflow tells the one that starts it.

    `start_form`: the form its start data must fill in (None: it takes any data);
    `fields`: what its data can hold when it ends (None: anything, it has no start form);
    `outcomes`: what it can end with, for the parent's `on`.
    """

    start_form: str | None
    fields: Mapping[str, FieldInfo] | None
    outcomes: frozenset[str]

    def field(self, name: str) -> FieldInfo | None:
        """Return one of its fields (by name or dotted path), if it is known."""
        if self.fields is None:
            return None
        return self.fields.get(name) or self.fields.get(name.split(".")[0])


#: Bit 0 of every set: the step is reached at all.
REACHED = 1

#: Step types whose form values are written into the data when a person completes them.
FILLED_IN = frozenset({"task", "approval"})


@dataclass(frozen=True, slots=True)
class Definition:
    """One write of a field: where (`step`, None for the start) and what it may hold."""

    field: str
    info: FieldInfo
    step: str | None
    absent: bool = False  # "not filled in": the field is missing on some route from here


class Flow:
    """The definitions reaching every step of a workflow, computed once."""

    def __init__(
        self,
        doc: Mapping[str, Any],
        forms: Forms | None,
        levels: tuple[str, ...] = (),
        children: Mapping[str, Child | None] | None = None,
        expr_kind: Callable[[str], str] | None = None,
    ) -> None:
        self.doc = doc
        self.forms = forms
        #: What an `expr` of a `set` gives, from its words alone (None: anything).
        self.expr_kind = expr_kind
        self.children = children
        self.levels = levels
        #: The levels the workflow declares in `priorities`: the priority field holds no other.
        self.declared: tuple[str, ...] = tuple(doc.get("priorities", ()))
        self.priority_field: str = doc.get("sla", {}).get("targets_by", "priority")
        start_form = doc.get("start", {}).get("form")
        self.open = forms is None or start_form is None or start_form not in forms
        #: Started without a form, all other forms known: the caller passes the start data.
        self.formless = forms is not None and start_form is None
        self.steps: dict[str, tuple[Mapping[str, Any], str]] = {}
        self.scope: dict[str, tuple[str | None, str | None]] = {}
        for sid, step, pointer, parallel, branch in iter_steps(doc["steps"]):
            self.steps.setdefault(sid, (step, pointer))
            self.scope.setdefault(sid, (parallel, branch))
        self.definitions: list[Definition] = []
        self.of_field: dict[str, int] = {}  # field -> bits of its definitions, absent ones too
        self.absent: dict[str, int] = {}  # field -> bit of its absent definition
        self.gen: dict[str, int] = {}
        self.kill: dict[str, int] = {}
        #: (step, outcome) -> what the route of that outcome replaces besides the step's kill
        self.route_kill: dict[tuple[str, str], int] = {}
        self.filled_by: dict[str, list[str]] = {}
        self.reviewed_by: dict[str, list[str]] = {}
        self.start = REACHED | self._start_definitions(start_form)
        for step_id in self.steps:
            self._step_definitions(step_id)
        self._absent_and_kills(start_form)
        self.entry: dict[str, int] = {}
        self._everything: int | None = None
        self._solve()

    # Definitions --------------------------------------------------------------------------

    def _define(self, field: str, info: FieldInfo, step: str | None, absent: bool = False) -> int:
        bit = 1 << (len(self.definitions) + 1)
        self.definitions.append(Definition(field, info, step, absent))
        self.of_field[field] = self.of_field.get(field, 0) | bit
        return bit

    def form_fields(self, key: str | None) -> tuple[FieldInfo, ...] | None:
        """Return a form's fields; None when the form is not known (or none is named)."""
        if key is None or self.forms is None:
            return None
        return self.forms.get(key)

    def _read_form(self, key: str | None) -> tuple[FieldInfo, ...]:
        """Return the fields a form writes; an unknown one leaves every field unchecked."""
        infos = self.form_fields(key)
        if infos is None and key is not None and self.forms is not None:
            self.open = True  # reported as an unknown or broken form; do not pile on
            self.formless = False
        return infos or ()

    def _start_definitions(self, start_form: str | None) -> int:
        bits = 0
        for info in self._read_form(start_form):
            bits |= self._define(info.key, info, None)
        return bits

    def _step_definitions(self, step_id: str) -> None:
        step, _pointer = self.steps[step_id]
        bits = 0
        kinds = step["type"]
        if "form" in step and kinds in FILLED_IN:
            for info in self.filled_in(step):
                bits |= self._define(info.key, info, step_id)
                self.filled_by.setdefault(info.key, []).append(step_id)
        elif "form" in step and kinds == "review":
            # Reviewers' answers go to the timeline, not into the data.
            for info in self._read_form(step["form"]):
                self.reviewed_by.setdefault(info.key, []).append(step_id)
        if kinds == "subflow" and step.get("wait", True):
            child = self.children.get(step["workflow"]) if self.children else None
            for name, theirs in step.get("result", {}).items():
                back = child.field(theirs) if child is not None else None
                bits |= self._define(name, FieldInfo(name, back.type if back else "any"), step_id)
                self.filled_by.setdefault(name, []).append(step_id)
        for name, spec in step.get("set", {}).items():
            bits |= self._define(name, self.info_of(name, spec), step_id)
            self.filled_by.setdefault(name, []).append(step_id)
            parts = name.split(".")
            for depth in range(1, len(parts)):  # `set` to a.b.c creates a and a.b
                parent = ".".join(parts[:depth])
                bits |= self._define(parent, FieldInfo(parent), step_id)
                self.filled_by.setdefault(parent, []).append(step_id)
        # Raising "one level" changes a level already there; raising to a level sets it.
        if self.levels and any(
            isinstance(action.get("raise_priority"), str)
            for rung in step.get("escalate", ())
            for action in rung["do"]
        ):
            info = FieldInfo(self.priority_field, "string", self.levels)
            bits |= self._define(self.priority_field, info, step_id)
        self.gen[step_id] = bits

    def filled_in(self, step: Mapping[str, Any]) -> Iterator[FieldInfo]:
        """Yield the fields a task's or approval's form writes, as its `fields` rules allow.

        Read-only and hidden fields are not written; `required` ones always are.
        """
        rules: Mapping[str, str] = step.get("fields", {})
        for info in self._read_form(step["form"]):
            rule = rules.get(info.key, "editable")
            if rule == "required" and not info.required:
                yield dataclasses.replace(info, required=True, filled=info.shown)
            elif rule not in ("read_only", "hidden"):
                yield info

    def info_of(self, name: str, spec: Mapping[str, Any]) -> FieldInfo:
        """Return what a `set` entry writes: a value's kind, a table's outputs, an
        expression's kind when its words say it (see `expr_kind`), or anything."""
        if "value" in spec:
            value = spec["value"]
            single = None if isinstance(value, list | dict) else (value,)
            return FieldInfo(name, type_of_literal(value), single)
        table = self.doc.get("tables", {}).get(spec.get("lookup"))
        if table:
            outputs = [row["then"] for row in table["rows"]]
            outputs.append(table.get("default"))  # no match gives the default, or null
            values = tuple(dict.fromkeys(v for v in outputs if v is not None))
            return FieldInfo(name, type_of_values(values), values)
        if "expr" in spec and self.expr_kind is not None:
            return FieldInfo(name, self.expr_kind(spec["expr"]))
        return FieldInfo(name)

    def _absent_and_kills(self, start_form: str | None) -> None:
        if self.open:
            # Whatever the caller passes at the start: any field, holding anything.
            for field in list(self.of_field):
                self.start |= self._define(field, FieldInfo(field), None)
        else:
            # No outcome on a start form: its rules see one that no rule names.
            infos = self._read_form(start_form)
            required = {i.key for i in infos if i.required or None in i.filled}
            for field in list(self.of_field):
                if field not in required:
                    bit = self._define(field, FieldInfo(field), None, absent=True)
                    self.absent[field] = bit
                    self.start |= bit
        under: dict[str, int] = {}  # field -> bits of the fields inside it (a.b inside a)
        for field, bits in self.of_field.items():
            parts = field.split(".")
            for depth in range(1, len(parts)):
                parent = ".".join(parts[:depth])
                under[parent] = under.get(parent, 0) | bits
        for step_id in self.steps:
            step, _pointer = self.steps[step_id]
            kill = 0
            for name in step.get("set", {}):
                kill |= self.of_field[name] | under.get(name, 0)
                parts = name.split(".")
                for depth in range(1, len(parts)):  # it creates the objects on its way
                    kill |= self.absent.get(".".join(parts[:depth]), 0)
            if "form" in step and step["type"] in FILLED_IN:
                kill |= self._form_kills(step_id, step)
            for name in step.get("result", {}) if step.get("wait", True) else ():
                kill |= self.of_field[name] | under.get(name, 0)
            self.kill[step_id] = kill & ~self.gen[step_id]
        for route, bits in self.route_kill.items():
            self.route_kill[route] = bits & ~self.gen[route[0]]

    def _form_kills(self, step_id: str, step: Mapping[str, Any]) -> int:
        """Return what a sent form replaces on every outcome; note what only some replace."""
        names = outcomes(step)
        kill = 0
        for info in self.filled_in(step):
            on = [name for name in names if info.required or name in info.filled]
            if len(on) == len(names):
                kill |= self.of_field[info.key]
                continue
            for name in on:
                route = (step_id, name)
                self.route_kill[route] = self.route_kill.get(route, 0) | self.of_field[info.key]
        return kill

    # Solving ------------------------------------------------------------------------------

    def _edges(self) -> Iterator[tuple[str, str, bool, int]]:
        """Yield (from, to, carries the step's entry rather than its exit, what the route
        replaces) for every route.

        The route of an outcome replaces what the form requires on that outcome alone. A
        parallel step `p` has a join node `p>` that its branches' ends lead to and
        that leads to its `next`. Escalations that move on (`goto`, `complete`) and an
        auto-approval leave without the step's form, so they carry its entry.
        """
        for step_id, (step, _pointer) in self.steps.items():
            scope = self.scope[step_id]

            def inside(target: str, scope: Any = scope) -> bool:
                return target in self.steps and self.scope[target] == scope

            kind = step["type"]
            if kind == "parallel":
                for name, branch in step["branches"].items():
                    first = branch["first"]
                    if first in self.steps and self.scope[first] == (step_id, name):
                        yield step_id, first, False, 0
                if inside(step["next"]):
                    yield f"{step_id}>", step["next"], False, 0
                continue
            if kind == "end":
                parallel, _branch = scope
                if parallel is not None:
                    yield step_id, f"{parallel}>", False, 0
                continue
            routes = [(step["next"], 0)] if "next" in step else []
            routes += [
                (target, self.route_kill.get((step_id, outcome), 0))
                for outcome, target in step.get("on", {}).items()
            ]
            if kind == "decision":
                routes += [(branch["next"], 0) for branch in step["branches"]]
                routes.append((step["otherwise"], 0))
            for target, kill in routes:
                if inside(target):
                    yield step_id, target, False, kill
            on = step.get("on", {})
            early = [on["approved"]] if "auto_approve" in step and "approved" in on else []
            for rung in step.get("escalate", ()):
                for action in rung["do"]:
                    if "goto" in action:
                        early.append(action["goto"])
                    elif "complete" in action:
                        early.append(on.get(action["complete"]) or step.get("next", ""))
            for target in early:
                if inside(target):
                    yield step_id, target, True, 0

    def _solve(self) -> None:
        preds: dict[str, list[tuple[str, bool, int]]] = {}
        succs: dict[str, list[str]] = {}
        for source, target, early, kill in self._edges():
            preds.setdefault(target, []).append((source, early, kill))
            succs.setdefault(source, []).append(target)
        joins = {
            f"{sid}>": sid for sid, (step, _p) in self.steps.items() if step["type"] == "parallel"
        }
        for join, parallel in joins.items():
            succs.setdefault(parallel, []).append(join)  # a join N passes what came in
        inner = self._inner_definitions()
        entry: dict[str, int] = {}
        exits: dict[str, int] = {}
        first = self.doc["first"]
        if first not in self.steps:
            return
        # Visit in reverse postorder, so a step comes after the steps leading to it and each
        # is visited a few times (once more per loop around it), not once per route.
        rank = {node: index for index, node in enumerate(_reverse_postorder(first, succs))}
        todo = [(0, first)]
        queued = {first}
        while todo:
            _rank, node = heapq.heappop(todo)
            queued.discard(node)
            if node in joins:
                out = self._join(joins[node], preds.get(node, []), exits, entry, inner)
                changed = exits.get(node) != out
                exits[node] = out
            else:
                into = self.start if node == first else 0
                for source, early, kill in preds.get(node, ()):
                    into |= (entry.get(source, 0) if early else exits.get(source, 0)) & ~kill
                out = self.gen[node] | (into & ~self.kill[node]) if into else 0
                changed = entry.get(node) != into or exits.get(node) != out
                entry[node], exits[node] = into, out
            if changed:
                for target in succs.get(node, ()):
                    if target not in queued:
                        queued.add(target)
                        heapq.heappush(todo, (rank[target], target))
        self.entry = {sid: bits for sid, bits in entry.items() if sid in self.steps}

    def _inner_definitions(self) -> dict[str, dict[str, int]]:
        """Return, for each parallel step, the definitions made inside each of its branches."""
        inner: dict[str, dict[str, int]] = {}
        for step_id in self.steps:
            parallel, branch = self.scope[step_id]
            while parallel is not None and branch is not None:
                by_branch = inner.setdefault(parallel, {})
                by_branch[branch] = by_branch.get(branch, 0) | self.gen[step_id]
                parallel, branch = self.scope[parallel]
        return inner

    def _join(
        self,
        parallel: str,
        ends: list[tuple[str, bool, int]],
        exits: Mapping[str, int],
        entry: Mapping[str, int],
        inner: Mapping[str, Mapping[str, int]],
    ) -> int:
        """Return what leaves a parallel step's join, from what reached its branches' ends."""
        step, _pointer = self.steps[parallel]
        reached: dict[str, int] = dict.fromkeys(step["branches"], 0)
        for end, _early, _kill in ends:
            _parallel, branch = self.scope[end]
            if branch in reached:
                reached[branch] |= exits.get(end, 0)
        made = inner.get(parallel, {})
        join = step.get("join", "all")
        finished = sum(1 for bits in reached.values() if bits & REACHED)
        if join != "all":
            # Branches that do not finish may have written anything up to where they stopped.
            if finished < min(int(join), len(reached)):
                return 0
            out = entry.get(parallel, 0)
            for bits in (*reached.values(), *made.values()):
                out |= bits
            return out
        if finished < len(reached):
            return 0
        everything_inside = 0
        for bits in made.values():
            everything_inside |= bits
        before = -1
        out = 0
        for name, bits in reached.items():
            before &= bits  # an earlier write survives only if no branch replaced it
            out |= bits & made.get(name, 0)
        return out | (before & ~everything_inside)

    # Questions ----------------------------------------------------------------------------

    def routes(self) -> Iterator[tuple[str, str]]:
        """Yield (from, to) for every route between steps, a parallel step's join `p>` too."""
        for source, target, *_how in self._edges():
            yield source, target
        for step_id, (step, _pointer) in self.steps.items():
            if step["type"] == "parallel":
                yield step_id, f"{step_id}>"  # the join passes on what came in

    @property
    def everything(self) -> int:
        """Return every definition: what may have been filled in by the time anything runs."""
        if self._everything is None:
            bits = self.start
            for gen in self.gen.values():
                bits |= gen
            self._everything = bits
        return self._everything

    def writes(self, step_id: str) -> tuple[Definition, ...]:
        """Return the definitions a step makes."""
        return tuple(self.among(self.gen.get(step_id, 0)))

    def among(self, bits: int) -> Iterator[Definition]:
        """Yield the definitions in a set of them."""
        bits >>= 1
        index = 0
        while bits:
            if bits & 1:
                yield self.definitions[index]
            bits >>= 1
            index += 1

    def definitions_of(self, field: str, bits: int) -> Iterator[Definition]:
        """Yield the definitions of a field among a set of them."""
        mine = self.of_field.get(field, 0) & bits
        while mine:
            low = mine & -mine
            yield self.definitions[low.bit_length() - 2]
            mine ^= low


def _reverse_postorder(first: str, succs: Mapping[str, list[str]]) -> list[str]:
    """Return the nodes reachable from `first`, each after those that lead to it (bar loops)."""
    order: list[str] = []
    seen = {first}
    work = [(first, iter(succs.get(first, ())))]
    while work:
        node, targets = work[-1]
        for target in targets:
            if target not in seen:
                seen.add(target)
                work.append((target, iter(succs.get(target, ()))))
                break
        else:
            work.pop()
            order.append(node)
    order.reverse()
    return order
