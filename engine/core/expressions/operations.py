"""Run the operations that can build large values, measuring each before it is built.

`*`, `+`, `**` and `%` (the sandbox intercepts them, see `BINOPS`), the text methods
that build (`replace`, `join`) and going through an iterable within the time budget.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator, Mapping
from time import perf_counter
from typing import Any

from engine.core.expressions.limits import (
    BUDGET,
    MAX_EXPONENT,
    MAX_FORMAT_WIDTH,
    MAX_INT_BITS,
    MAX_TEXT_LENGTH,
    MAX_VALUE_SIZE,
    OVERLONG_LIST,
    OVERLONG_TEXT,
    OVERSIZED_INT,
    OVERSIZED_VALUE,
    Refusal,
    check_time,
    over_limit,
)
from engine.core.expressions.sizes import (
    check_built,
    check_int,
    check_listed,
    check_text,
    measure,
    text_of,
)


def multiply(left: Any, right: Any) -> Any:
    """Repeat a text or list, or multiply numbers, refusing a result over the limits."""
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(times, int):
            if times <= 0 or not seq:
                return seq * times
            if isinstance(seq, str):
                if len(seq) * times > MAX_TEXT_LENGTH:
                    raise over_limit("built", "would build", OVERLONG_TEXT)
            elif measure(seq, MAX_VALUE_SIZE // times + 1) * times > MAX_VALUE_SIZE:
                raise over_limit("built", "would build", OVERSIZED_VALUE)
            return check_built(seq * times)
    if isinstance(left, int) and isinstance(right, int):
        # The product has at least this many bits: refuse before multiplying.
        if left.bit_length() + right.bit_length() - 1 > MAX_INT_BITS:
            raise over_limit("built", "would build", OVERSIZED_INT)
        return check_int(left * right)
    return left * right


def add(left: Any, right: Any) -> Any:
    """Add numbers or join texts or lists, refusing a result over the limits."""
    if isinstance(left, str) and isinstance(right, str):
        if len(left) + len(right) > MAX_TEXT_LENGTH:
            raise over_limit("built", "would build", OVERLONG_TEXT)
    elif isinstance(left, list | tuple) and isinstance(right, list | tuple):
        size = measure(left, MAX_VALUE_SIZE) + measure(right, MAX_VALUE_SIZE)
        if size > MAX_VALUE_SIZE:
            raise over_limit("built", "would build", OVERSIZED_VALUE)
    return check_built(left + right)


def power(base: Any, exponent: Any) -> Any:
    """Raise to a power, refusing large exponents and whole numbers over the limit."""
    if isinstance(exponent, int | float) and abs(exponent) > MAX_EXPONENT:
        raise Refusal(f"the power {exponent} is too large: exponents may be at most {MAX_EXPONENT}")
    whole = isinstance(base, int) and isinstance(exponent, int)
    # The power has more than (bits - 1) * exponent bits: refuse before computing it.
    if whole and exponent > 0 and (base.bit_length() - 1) * exponent >= MAX_INT_BITS:
        raise over_limit("built", "would build", OVERSIZED_INT)
    return check_built(operator.pow(base, exponent))


def modulo(left: Any, right: Any) -> Any:
    """Take a remainder, or apply a `%` format to a text."""
    if isinstance(left, str):
        return _formatted(left, right)
    return operator.mod(left, right)


def _formatted(fmt: str, args: Any) -> str:
    """Apply a `%` format, refusing wide fields and estimating the length first."""
    positional = list(args) if isinstance(args, tuple) else [args]
    estimate, index = len(fmt), 0
    for key, width, precision, conversion in _printf_specs(fmt):
        for number in (width, precision):
            if number == "*" or len(number) > 3 or int(number or 0) > MAX_FORMAT_WIDTH:
                raise Refusal(f"a '%' format may pad to {MAX_FORMAT_WIDTH} characters at most")
        if conversion == "%":
            continue
        if key is not None:
            arg = args.get(key) if isinstance(args, Mapping) else None
        else:
            arg = positional[index] if index < len(positional) else None
            index += 1
        estimate += int(width or 0) + int(precision or 0) + _printed_length(conversion, arg)
        if estimate > MAX_TEXT_LENGTH:
            raise over_limit("built", "would build", OVERLONG_TEXT)
    return check_text(fmt % args)


def _printf_specs(fmt: str) -> Iterator[tuple[str | None, str, str, str]]:
    """Yield (key, width, precision, conversion) of each `%` directive, as Python reads them."""
    digits = "0123456789"  # Python reads ASCII digits only, not `str.isdigit`'s
    at, end = 0, len(fmt)
    while (at := fmt.find("%", at) + 1) and at < end:
        key = None
        if fmt[at] == "(":  # `%(a(b))s` names the key `a(b)`: brackets nest
            depth, start = 1, at + 1
            at += 1
            while at < end and depth:
                depth += {"(": 1, ")": -1}.get(fmt[at], 0)
                at += 1
            key = fmt[start : at - 1]
        while at < end and fmt[at] in "-+ #0":
            at += 1
        width_at = at
        while at < end and (fmt[at] in digits or (at == width_at and fmt[at] == "*")):
            at += 1
        width, precision = fmt[width_at:at], ""
        if at < end and fmt[at] == ".":
            at += 1
            precision_at = at
            while at < end and (fmt[at] in digits or (at == precision_at and fmt[at] == "*")):
                at += 1
            precision = fmt[precision_at:at]
        if at < end and fmt[at] in "hlL":
            at += 1
        yield key, width, precision, fmt[at] if at < end else ""
        at += 1


def _printed_length(conversion: str, arg: Any) -> int:
    """Estimate how long one `%` conversion of `arg` prints, before printing it."""
    if conversion in ("s", "r", "a"):
        return len(arg) + 2 if isinstance(arg, str) else len(text_of(arg))
    if isinstance(arg, int):
        return arg.bit_length() // 3 + 3  # octal has the most digits
    if isinstance(arg, float):
        return 330  # `%f` of 1e308: 309 digits, a sign and a point
    return 5


def replaced(text: str, old: str, new: str, count: int = -1) -> str:
    """Replace parts of a text, refusing before a result over the limit is built."""
    hits = text.count(old) if count < 0 else min(count, text.count(old))
    if len(text) + hits * (len(new) - len(old)) > MAX_TEXT_LENGTH:
        raise over_limit("built", "would build", OVERLONG_TEXT)
    return text.replace(old, new, count)


def _joined(separator: str, items: Iterable[Any]) -> str:
    parts = items if isinstance(items, str | list | tuple) else list(metered(items))
    if isinstance(parts, str):
        length = len(parts) * (1 + len(separator))
    else:
        try:
            length = sum(map(len, parts)) + len(separator) * len(parts)
        except TypeError:
            length = 0  # a part that is no text: `join` says so, before anything is built
    if length - len(separator) > MAX_TEXT_LENGTH:
        raise over_limit("built", "would build", OVERLONG_TEXT)
    return separator.join(parts)


def call_method(method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Call an allowed method (see `sandbox.may_read`), measuring what text methods build."""
    owner, name = method.__self__, method.__name__
    if not isinstance(owner, str):
        return method(*args, **kwargs)  # get, keys, values, items, count: nothing built
    if name == "replace":
        result = replaced(owner, *args, **kwargs)
    elif name == "join" and len(args) == 1 and not kwargs:
        result = _joined(owner, args[0])
    else:
        result = method(*args, **kwargs)
    return check_listed(result) if isinstance(result, list) else check_built(result)


def metered(
    iterable: Iterable[Any], limit: int | None = None, list_: bool = False
) -> Iterator[Any]:
    """Go through an iterable, keeping to the time budget and to at most `limit` items.

    Past the limit it is a list too long to sort, or with `list_`, too long to build.
    """
    budget = BUDGET.get()
    for count, item in enumerate(iterable, 1):
        if limit is not None and count > limit:
            if list_:
                raise over_limit("built", "would build", OVERLONG_LIST)
            raise over_limit("sorted", "would sort", f"a list longer than {limit:,} items")
        if budget is not None and perf_counter() > budget.deadline:
            check_time(budget)
        yield item


#: The operators the sandbox intercepts, and what runs them.
BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": add,
    "*": multiply,
    "**": power,
    "%": modulo,
}
