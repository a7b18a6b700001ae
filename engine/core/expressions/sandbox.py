"""Give the one sandbox every expression runs in: an allow-list at every read and call.

Only the methods in `SAFE_METHODS` may be read or called, whatever path reaches a value;
only the filters in `filters.SAFE_FILTERS` exist, and no global (`range`, `lipsum`,
`cycler`, ...) is defined. Operators and method calls run measured (`operations`), and
the hooks `metering` compiles into the source are the only other calls let through.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from types import BuiltinMethodType, MethodType
from typing import Any

from jinja2.filters import _GroupTuple
from jinja2.runtime import Context, LoopContext, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine.core.expressions.filters import guarded_filters
from engine.core.expressions.limits import Refusal, tick
from engine.core.expressions.metering import concat, literal, loop, sliced
from engine.core.expressions.operations import BINOPS, call_method
from engine.core.expressions.sizes import describe, text_of

#: Methods of texts an expression may read and call.
TEXT_METHODS = frozenset(
    {"lower", "upper", "strip", "title", "capitalize", "startswith", "endswith", "split",
     "replace", "count", "join"}
)  # fmt: skip
#: Methods of mappings (the data, `instance`, a row of a table) an expression may read and call.
MAPPING_METHODS = frozenset({"get", "keys", "values", "items"})
#: Methods of lists an expression may read and call.
LIST_METHODS = frozenset({"count"})
#: Methods an expression may call; nothing else may be called, or even read as a value.
SAFE_METHODS = TEXT_METHODS | MAPPING_METHODS | LIST_METHODS
#: What a template may read from `loop` inside a `{% for %}` (not `cycle`, `changed` or
#: `loop(...)`, which call back into the template).
LOOP_ATTRIBUTES = frozenset(
    {"index", "index0", "revindex", "revindex0", "first", "last", "length", "depth", "depth0",
     "previtem", "nextitem"}
)  # fmt: skip
#: What an expression may read from an item of `groupby`.
GROUP_ATTRIBUTES = frozenset({"grouper", "list"})


def may_read(obj: Any, attribute: str) -> bool:
    """Tell whether an expression may read (and so call) an attribute of a value."""
    if isinstance(obj, str):
        return attribute in TEXT_METHODS
    if isinstance(obj, Mapping):
        return attribute in MAPPING_METHODS
    if isinstance(obj, _GroupTuple) and attribute in GROUP_ATTRIBUTES:
        return True
    if isinstance(obj, list | tuple):
        return attribute in LIST_METHODS
    if isinstance(obj, LoopContext):
        return attribute in LOOP_ATTRIBUTES
    return False


def _kind_of(value: Any) -> str:
    if isinstance(value, str):
        return "a text"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, LoopContext):
        return "the loop variable"
    if isinstance(value, int | float):
        return "a number"
    return f"a value of the Python type '{type(value).__name__}'"


def _finalize(value: Any) -> Any:
    """Print only values in a template: `{{ data.get }}` is a mistake, not a title."""
    if isinstance(value, str | Undefined):
        return value
    return text_of(value)


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox: an allow-list at every read and call, every build measured."""

    intercepted_binops = frozenset(BINOPS)

    def __init__(self) -> None:
        # `optimized=False`: Jinja's optimizer would run parts of the source while
        # compiling, outside any budget.
        super().__init__(
            autoescape=False, keep_trailing_newline=False, optimized=False, finalize=_finalize
        )
        self.globals.clear()  # no range, dict, lipsum, cycler, joiner, namespace
        self.filters = guarded_filters(self.filters)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return may_read(obj, attr)

    def is_safe_callable(self, obj: Any) -> bool:
        if not isinstance(obj, BuiltinMethodType | MethodType):
            return False
        return may_read(obj.__self__, obj.__name__)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        # Refuse at once rather than hand out an undefined value that might pass unseen.
        raise Refusal(f"reading '{attribute}' of {_kind_of(obj)} is not allowed")

    def wrap_str_format(self, value: Any) -> None:
        return None  # `format` is no allowed method: reading it is refused like any other

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Every step of user code reads something: checking the time here stops even work
        # Python does in one piece, like `sort(attribute='a,a,a,...')` calling back per item.
        tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        tick()
        return super().getitem(obj, argument)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        return BINOPS[operator](left, right)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        # Jinja passes its own bookkeeping to calls made inside loops.
        kwargs.pop("_loop_vars", None)
        kwargs.pop("_block_vars", None)
        if obj is loop or obj is concat or obj is literal or obj is sliced:
            return obj(*args)
        tick()
        if isinstance(obj, Undefined):
            obj._fail_with_undefined_error()
        if not self.is_safe_callable(obj):
            raise Refusal(f"{describe(obj)} cannot be called")
        return call_method(obj, args, kwargs)


@lru_cache(maxsize=1)
def environment() -> _Environment:
    """Return the one sandbox every expression and template runs in."""
    return _Environment()
