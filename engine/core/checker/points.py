"""What a check sees at one point of a flow: the fields there, what they hold, and why not."""

from __future__ import annotations

from collections.abc import Mapping

from engine.core.checker.dataflow import FILLED_IN, REACHED, Flow
from engine.core.checker.words import closest, near_miss
from engine.core.fields import SCALAR_TYPES, FieldInfo, merge_infos


def at_step(flow: Flow, step_id: str) -> At:
    """Return what the checks of a step see: the definitions reaching it."""
    return At(flow, flow.entry.get(step_id, 0))


def at_start(flow: Flow) -> At:
    """Return what the start title sees: the start form's fields."""
    return At(flow, flow.start)


def anywhere(flow: Flow) -> At:
    """Return what an SLA breach action sees: whatever some step may have filled in."""
    return At(flow, flow.everything)


#: Why a field is not here when nothing anywhere fills it in (a typo, often).
NOBODY_FILLS = "neither the start form nor a step before this one fills it in"


class At:
    """What a check sees at one point of the flow: the fields there and what they hold."""

    __slots__ = ("_cache", "bits", "extra", "flow", "unsure")

    def __init__(
        self,
        flow: Flow,
        bits: int,
        extra: Mapping[str, FieldInfo] | None = None,
        unsure: frozenset[str] = frozenset(),
    ) -> None:
        self.flow = flow
        self.bits = bits
        self.extra: dict[str, FieldInfo] = dict(extra or {})
        self.unsure = unsure  # among `extra`: fields that may still be missing
        self._cache: dict[str, FieldInfo | None] = {}

    @property
    def open(self) -> bool:
        """Tell whether unknown fields go unreported here.

        They do when the start form is unknown (the caller may pass any field), and at
        a step no route leads to: what it sees depends on the route still to be drawn.
        """
        return self.flow.open or not self.bits & REACHED

    def with_fields(
        self, fields: Mapping[str, FieldInfo], unsure: frozenset[str] = frozenset()
    ) -> At:
        """Return this point with more fields written (by the entries of a `set`).

        `unsure` names fields among them that may still be missing: an action's own
        counter (`(count or 0) + 1`) is read before the action first sets it.
        """
        return At(self.flow, self.bits, {**self.extra, **fields}, self.unsure | unsure)

    def info(self, name: str) -> FieldInfo | None:
        """Return what a field (or dotted path) holds here; None when it does not exist."""
        if name in self._cache:
            return self._cache[name]
        found = self._info(name)
        self._cache[name] = found
        return found

    def _info(self, name: str) -> FieldInfo | None:
        if name in self.extra:
            return self.extra[name]
        real = [d.info for d in self.flow.definitions_of(name, self.bits) if not d.absent]
        if real:
            found = merge_infos(real)
            flow = self.flow
            if found is not None and name == flow.priority_field and flow.levels:
                # `raise_priority` (a rung, an SLA breach) may move it to any level, any time.
                levels = FieldInfo(name, "string", flow.levels)
                found = merge_infos([found, levels])
            return found
        parts = name.split(".")
        for depth in range(len(parts) - 1, 0, -1):
            holder = self.info(".".join(parts[:depth]))
            if holder is not None:
                # Inside a known object: anything. A text, number or date holds nothing
                # to read by a dot (`summary.text`, a person's `manager.email`).
                return None if holder.type in SCALAR_TYPES else FieldInfo(name)
        return None

    def may_be_missing(self, name: str) -> bool:
        """Tell whether a field is not filled in on some route to here."""
        if name in self.unsure and not self.flow.open:
            return True
        if name in self.extra or self.open:
            return False
        return bool(self.flow.absent.get(name, 0) & self.bits)

    def maybe_why(self, name: str) -> str:
        """Say why a field may be missing: no form requires it on every route to here."""
        flow = self.flow
        written = [d for d in flow.definitions_of(name, self.bits) if not d.absent]
        if not written:
            return "no step before this one fills it in"
        forms = []
        for definition in written:
            if definition.step is None:
                forms.append("the start form")
            elif "form" in flow.steps[definition.step][0] and not definition.info.required:
                forms.append(f"the form of step '{definition.step}'")
        if len(forms) == len(written):
            named = list(dict.fromkeys(forms))
            verb = "does" if len(named) == 1 else "do"
            return f"{' and '.join(named)} {verb} not require it"
        return "not every route to here fills it in"

    def names(self) -> list[str]:
        """Return the fields that exist here, by name."""
        found = {d.field for d in self.flow.among(self.bits) if not d.absent and "." not in d.field}
        return sorted(found | {name for name in self.extra if "." not in name})

    def unknown(self, name: str, outcome: bool = False) -> str | None:
        """Say why a field (or dotted path) read here does not exist; None when it may.

        Without a start form, any field may come with the start data, except one that
        no step fills in and that is a typo away from one that a step does.
        """
        if self.info(name) is not None:
            return None
        root = name.split(".")[0]
        if not self.open:
            return self.missing(root, outcome)
        if self.flow.formless and self.bits & REACHED:
            meant = near_miss(root, self.flow.filled_by)
            if meant is not None:
                steps = " or ".join(
                    f"'{step}'" for step in dict.fromkeys(self.flow.filled_by[meant])
                )
                return (
                    f"no step fills in '{root}', so only the start data could hold it; did you "
                    f"mean '{meant}', which step {steps} fills in?"
                )
        return None

    def missing(self, name: str, outcome: bool = False) -> str:
        """Say why a field does not exist here, naming the steps that fill it in elsewhere.

        `outcome`: it is compared with an outcome of the step of that name.
        """
        names = self.names()
        why = self.why(name, outcome)
        meant = closest(name, names) if why == NOBODY_FILLS else None
        if meant is not None:  # filled in nowhere, and a field here is spelt nearly so
            return f"there is no field '{name}' at this point of the flow; did you mean '{meant}'?"
        known = ", ".join(names) or "none"
        return f"there is no field '{name}' at this point of the flow: {why} (fields here: {known})"

    def why(self, name: str, outcome: bool = False) -> str:
        """Say why a field is not here: filled in only later, by reviewers, or by nobody."""
        flow = self.flow
        later = flow.filled_by.get(name)
        if later:
            steps = " or ".join(f"'{step_id}'" for step_id in dict.fromkeys(later))
            return f"only step {steps} fills it in, and no route leads from there to here"
        reviews = flow.reviewed_by.get(name)
        if reviews:
            steps = " or ".join(f"'{step_id}'" for step_id in dict.fromkeys(reviews))
            return (
                f"the reviewers of step {steps} fill it in, but reviewers' answers go to "
                "the timeline, not into the data"
            )
        if outcome and name in flow.steps:
            return (
                f"'{name}' is a step, and a step's outcome is not kept in the data: "
                "route on it with 'on'"
            )
        kept = _kept_from(flow, name)
        if kept is not None:
            step_id, rule = kept
            return (
                f"the form of step '{step_id}' has it, but the step's 'fields' keep it "
                f"{rule.replace('_', '-')}, so nobody fills it in there"
            )
        return NOBODY_FILLS


def _kept_from(flow: Flow, name: str) -> tuple[str, str] | None:
    """Return a step whose form has a field that its `fields` rules hide or make read-only."""
    for step_id, (step, _pointer) in flow.steps.items():
        rule = step.get("fields", {}).get(name)
        if step["type"] in FILLED_IN and rule in ("hidden", "read_only"):
            infos = flow.form_fields(step.get("form"))
            if infos is not None and any(info.key == name for info in infos):
                return step_id, rule
    return None
