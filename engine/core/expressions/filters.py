"""Give the filters an expression may use, each measured: its input, its time, its result."""

from __future__ import annotations

from collections import abc
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import pass_context, pass_environment
from jinja2.environment import Environment
from jinja2.filters import do_round, make_attrgetter, sync_do_sum
from jinja2.runtime import Context
from jinja2.utils import _PassArg

from engine.core.expressions.limits import (
    MAX_EXPONENT,
    MAX_SORT_ITEMS,
    MAX_TEXT_LENGTH,
    MAX_VALUE_SIZE,
    OVERLONG_LIST,
    OVERLONG_TEXT,
    Refusal,
    over_limit,
    tick,
)
from engine.core.expressions.operations import metered, replaced
from engine.core.expressions.sizes import check_filtered, check_listed, text_of

#: Filters an expression may use: none builds a value much larger than its input and none
#: is random (`center`, `indent`, `format`, `batch`, `slice`, `random` are left out).
SAFE_FILTERS = frozenset(
    {
        "abs", "attr", "capitalize", "count", "d", "default", "dictsort", "first", "float",
        "groupby", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min",
        "reject", "rejectattr", "replace", "reverse", "round", "select", "selectattr", "sort",
        "string", "sum", "title", "trim", "truncate", "unique", "upper", "wordcount",
    }
)  # fmt: skip

#: Filters that turn their input into text first (`soft_str`): measure it before printing it.
_TEXT_FILTERS = frozenset(
    {"capitalize", "lower", "upper", "title", "trim", "string", "truncate", "wordcount", "replace"}
)
#: Filters that go through their input item by item in Python: keep to the time budget.
_ITERATING_FILTERS = frozenset(
    {"join", "map", "max", "min", "reject", "rejectattr", "select", "selectattr", "sum",
     "unique", "sort", "groupby"}
)  # fmt: skip
#: Filters that sort their whole input in one piece.
_SORTING_FILTERS = frozenset({"sort", "groupby", "dictsort"})
#: Filters whose result is built from their input: hold it to the limits.
_BUILDING_FILTERS = _TEXT_FILTERS | frozenset(
    {"join", "sort", "groupby", "dictsort", "reverse", "int", "sum", "round", "abs"}
)


def guarded_filters(builtin: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """Return the allowed filters, each guarded; ours replace Jinja's that build without bound."""
    return {name: _guarded(name, _CUSTOM_FILTERS.get(name, builtin[name])) for name in SAFE_FILTERS}


@pass_environment
def _join_filter(environment: Environment, value: Any, d: Any = "", attribute: Any = None) -> str:
    separator = text_of(d)
    if attribute is not None:
        value = map(make_attrgetter(environment, attribute), value)
    texts: list[str] = []
    length = 0
    for item in value:
        text = text_of(item)
        length += len(text) + (len(separator) if texts else 0)
        if length > MAX_TEXT_LENGTH:
            raise over_limit("built", "would build", OVERLONG_TEXT)
        texts.append(text)
    return separator.join(texts)


def _replace_filter(text: str, old: Any, new: Any, count: int | None = None) -> str:
    return replaced(text, text_of(old), text_of(new), -1 if count is None else count)


def _list_filter(value: Any) -> list[Any]:
    if isinstance(value, str | list | tuple | Mapping):
        if len(value) > MAX_VALUE_SIZE:
            raise over_limit("built", "would build", OVERLONG_LIST)
        return check_listed(list(value))
    return check_listed(list(metered(value, MAX_VALUE_SIZE, list_=True)))


def _round_filter(value: Any, precision: Any = 0, method: str = "common") -> float:
    # Rounding to p digits computes 10 ** p.
    if isinstance(precision, int) and abs(precision) > MAX_EXPONENT:
        raise Refusal(f"round keeps at most {MAX_EXPONENT} digits")
    return do_round(value, precision, method)  # type: ignore[arg-type]


@pass_environment
def _sum_filter(
    environment: Environment, iterable: Any, attribute: Any = None, start: Any = 0
) -> Any:
    # Adding lists (`start=[]`) builds a new list at every step: sum adds numbers only.
    if not isinstance(start, int | float):
        raise Refusal("sum adds numbers only: its start must be a number")
    return sync_do_sum(environment, iterable, attribute, start)


_CUSTOM_FILTERS: dict[str, Callable[..., Any]] = {
    "join": _join_filter,
    "replace": _replace_filter,
    "list": _list_filter,
    "round": _round_filter,
    "sum": _sum_filter,
}


def _guarded(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a filter so that its input is measured, its time counted and its result held.

    Taking the context keeps Jinja from running the filter while it compiles, outside
    any budget.
    """
    passes = _PassArg.from_obj(function)
    text_input = name in _TEXT_FILTERS
    iterating = name in _ITERATING_FILTERS
    sorting = MAX_SORT_ITEMS if name in _SORTING_FILTERS else None
    builds = name in _BUILDING_FILTERS

    @pass_context
    def guarded(context: Context, value: Any, /, *args: Any, **kwargs: Any) -> Any:
        tick()
        # A list too long to sort is refused before any of it is read: at once, and the
        # same on a busy machine as on an idle one (not after the time budget ran out).
        if sorting and isinstance(value, abc.Sized) and len(value) > sorting:
            raise over_limit("sorted", "would sort", f"a list longer than {sorting:,} items")
        if text_input and not isinstance(value, str):
            value = text_of(value)
        elif iterating:
            value = metered(value, sorting)
        if passes is _PassArg.context:
            result = function(context, value, *args, **kwargs)
        elif passes is _PassArg.eval_context:
            result = function(context.eval_ctx, value, *args, **kwargs)
        elif passes is _PassArg.environment:
            result = function(context.environment, value, *args, **kwargs)
        else:
            result = function(value, *args, **kwargs)
        return check_filtered(result) if builds else result

    return guarded
