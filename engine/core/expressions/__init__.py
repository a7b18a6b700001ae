"""Sandboxed Jinja2 expressions and templates: parse, inspect statically, evaluate within limits.

Power users write conditions and computed values as Jinja2 expressions
(`cost < 500 and category == 'hardware'`) and titles as templates
(`Work on {{ instance.number }}: {{ summary }}`). They run in a narrowed
`ImmutableSandboxedEnvironment` (`sandbox`):

- an allow-list, applied whatever path reaches a value: only the methods in
  `SAFE_METHODS` may be read or called, only the filters in `SAFE_FILTERS` exist
  (`filters`), and no global (`range`, `lipsum`, `cycler`, ...) is defined;
- limits on what one evaluation may build (texts, lists, whole numbers, in all), on
  loop iterations and on time (`limits`), met at run time by hooks compiled into every
  expression (`metering`), by measured operators (`operations`) and by measuring what
  is built (`sizes`), and checked against a budget kept per evaluation in a context
  variable, so they hold in any thread without signals;
- results that are JSON values, or an `ExpressionError` saying what came out (`results`).

`inspect_*` (`inspection`) refuses at publish time what can be seen in the source
(private names, calls, constant parts that break a limit, worked out by `folding`), so
a process owner hears about it before anything runs; everything else fails at run time
as an `ExpressionError` (`evaluation`, `templates`), which the runtime records as an
incident of the instance.

The arrows between the modules point one way: limits, sizes, operations, metering,
filters, sandbox, folding, results, inspection, evaluation, templates; each imports
only modules before it.
"""

from engine.core.expressions.evaluation import Evaluator, compile_expression, compile_test
from engine.core.expressions.filters import SAFE_FILTERS
from engine.core.expressions.inspection import (
    ALLOWED_STATEMENTS,
    CONTEXT_NAMES,
    STATEMENT_TAGS,
    Inspection,
    inspect_expression,
    inspect_template,
)
from engine.core.expressions.limits import (
    MAX_BUILT_TOTAL,
    MAX_DEPTH,
    MAX_EXPONENT,
    MAX_FORMAT_WIDTH,
    MAX_INT_BITS,
    MAX_LOOP_ITERATIONS,
    MAX_LOOP_NESTING,
    MAX_SECONDS,
    MAX_SORT_ITEMS,
    MAX_SOURCE_LENGTH,
    MAX_TEXT_LENGTH,
    MAX_VALUE_SIZE,
    MAX_WALL_SECONDS,
    TOO_DEEP,
    TOO_LONG,
)
from engine.core.expressions.results import JSON_INT_RANGE
from engine.core.expressions.sandbox import (
    GROUP_ATTRIBUTES,
    LIST_METHODS,
    LOOP_ATTRIBUTES,
    MAPPING_METHODS,
    SAFE_METHODS,
    TEXT_METHODS,
    environment,
)
from engine.core.expressions.templates import compile_template, is_template

__all__ = [
    "ALLOWED_STATEMENTS",
    "CONTEXT_NAMES",
    "GROUP_ATTRIBUTES",
    "JSON_INT_RANGE",
    "LIST_METHODS",
    "LOOP_ATTRIBUTES",
    "MAPPING_METHODS",
    "MAX_BUILT_TOTAL",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_FORMAT_WIDTH",
    "MAX_INT_BITS",
    "MAX_LOOP_ITERATIONS",
    "MAX_LOOP_NESTING",
    "MAX_SECONDS",
    "MAX_SORT_ITEMS",
    "MAX_SOURCE_LENGTH",
    "MAX_TEXT_LENGTH",
    "MAX_VALUE_SIZE",
    "MAX_WALL_SECONDS",
    "SAFE_FILTERS",
    "SAFE_METHODS",
    "STATEMENT_TAGS",
    "TEXT_METHODS",
    "TOO_DEEP",
    "TOO_LONG",
    "Evaluator",
    "Inspection",
    "compile_expression",
    "compile_template",
    "compile_test",
    "environment",
    "inspect_expression",
    "inspect_template",
    "is_template",
]
