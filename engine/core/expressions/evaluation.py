"""Compile checked sources, and run an evaluation within its budget to a JSON value or a truth.

Everything that fails at run time fails as an `ExpressionError`, which the runtime
records as an incident of the instance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, cast

from jinja2 import TemplateSyntaxError, nodes
from jinja2.environment import Template
from jinja2.runtime import Undefined

from engine.core.errors import ExpressionError
from engine.core.expressions.inspection import Unparsable, inspect_tree, parse_expression
from engine.core.expressions.limits import BUDGET, TOO_DEEP, Budget, Refusal
from engine.core.expressions.metering import Metering
from engine.core.expressions.results import json_value, truth
from engine.core.expressions.sandbox import environment

Evaluator = Callable[[Mapping[str, Any]], Any]


def quoted(source: str) -> str:
    """Quote a source for a message, cut short past 200 characters."""
    return f"'{source}'" if len(source) <= 200 else f"'{source[:200]}...'"


def compiled(tree: nodes.Template, source: str) -> Template:
    """Compile a checked tree with the hooks in place."""
    tree = Metering().visit(tree)
    tree.set_environment(environment())
    try:
        return environment().from_string(tree)
    except (TemplateSyntaxError, RecursionError, SyntaxError, MemoryError):
        raise ExpressionError(f"{quoted(source)}: {TOO_DEEP}") from None


def run(source: str, kind: str, work: Callable[[], Any]) -> Any:
    """Run one evaluation within its budget; every way it can fail is an `ExpressionError`."""
    token = BUDGET.set(Budget(kind))
    try:
        return work()
    except Refusal as exc:
        raise ExpressionError(f"{quoted(source)}: {exc}") from None
    except RecursionError:
        raise ExpressionError(f"{quoted(source)}: the data is nested too deeply") from None
    except MemoryError:  # no limit should let this happen; if one does, it is no crash
        raise ExpressionError(f"{quoted(source)}: the {kind} needed too much memory") from None
    except OverflowError:  # `1e300 ** 2`, a whole number too large to be a float
        raise ExpressionError(f"{quoted(source)}: a number grew too large to work with") from None
    except KeyError as exc:  # `'%(name)s' % data` without `name`
        raise ExpressionError(f"{quoted(source)}: there is no key {exc}") from None
    except Exception as exc:  # anything the process owner's source raises
        verb = "rendered" if kind == "template" else "evaluated"
        reason = str(exc)[:300]
        raise ExpressionError(f"{quoted(source)} could not be {verb}: {reason}") from None
    finally:
        BUDGET.reset(token)


@lru_cache(maxsize=4096)
def _expression_template(source: str) -> Template:
    """Check and compile an expression once, as a template that stores it in `result`."""
    try:
        tree = parse_expression(source)
    except Unparsable as exc:
        raise ExpressionError(f"{quoted(source)}: {exc}") from None
    problems = inspect_tree(tree, "expression").problems
    if problems:
        raise ExpressionError(f"{quoted(source)}: {problems[0]}")
    body = [nodes.Assign(nodes.Name("result", "store"), tree, lineno=1)]
    return compiled(nodes.Template(body, lineno=1), source)


def _result(template: Template, context: Mapping[str, Any]) -> Any:
    scope = template.new_context(cast("dict[str, Any]", context))  # copied into the scope
    for _ in template.root_render_func(scope):
        pass
    value = scope.vars["result"]
    return None if isinstance(value, Undefined) else value


@lru_cache(maxsize=4096)
def compile_expression(source: str) -> Evaluator:
    """Compile an expression once; the result evaluates it against a context to a JSON value."""
    template = _expression_template(source)

    def evaluate(context: Mapping[str, Any]) -> Any:
        return run(source, "expression", lambda: json_value(_result(template, context)))

    return evaluate


@lru_cache(maxsize=4096)
def compile_test(source: str) -> Callable[[Mapping[str, Any]], bool]:
    """Compile an expression used as a condition; the result tells whether it holds.

    Only the truth of the value counts, so it is not copied as `compile_expression`'s is,
    but it must still be a value: a method or an unfinished sequence is always "true"
    and is refused instead.
    """
    template = _expression_template(source)

    def test(context: Mapping[str, Any]) -> bool:
        return bool(run(source, "expression", lambda: truth(_result(template, context))))

    return test
