"""Compile text templates (titles, messages) and render them within the limits."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, cast

from jinja2 import nodes

from engine.core.errors import ExpressionError
from engine.core.expressions.evaluation import compiled, quoted, run
from engine.core.expressions.inspection import Unparsable, inspect_tree, parse_template
from engine.core.expressions.limits import MAX_TEXT_LENGTH, OVERLONG_TEXT, Refusal, over_limit
from engine.core.expressions.sizes import check_text, text_of


def is_template(text: str) -> bool:
    """Tell whether a text has expression parts to fill in."""
    return "{{" in text or "{%" in text


@lru_cache(maxsize=4096)
def compile_template(source: str) -> Callable[[Mapping[str, Any]], str]:
    """Compile a text template once; plain text without `{{`/`{%` costs nothing to render."""
    if not is_template(source):
        return lambda context: source
    try:
        tree = parse_template(source)
    except Unparsable as exc:
        raise ExpressionError(f"{quoted(source)}: {exc}") from None
    problems = inspect_tree(tree, "template").problems
    if problems:
        raise ExpressionError(f"{quoted(source)}: {problems[0]}")
    simple = _simple_template(source, tree)
    if simple is not None:
        return simple
    template = compiled(tree, source)

    def generate(context: Mapping[str, Any]) -> str:
        # Render piece by piece, so a loop cannot build a text larger than the limit.
        parts, length = [], 0
        for part in template.root_render_func(
            template.new_context(cast("dict[str, Any]", context))
        ):
            length += len(part)
            if length > MAX_TEXT_LENGTH:
                raise over_limit("built", "would build", OVERLONG_TEXT)
            parts.append(part)
        return check_text("".join(parts))

    def render(context: Mapping[str, Any]) -> str:
        text: str = run(source, "template", lambda: generate(context))
        return text

    return render


def _simple_template(
    source: str, tree: nodes.Template
) -> Callable[[Mapping[str, Any]], str] | None:
    """Render `Text {{ name }} and {{ a.b }}` without Jinja, the same way Jinja would.

    Most titles are just text and field names; rendering them through Jinja was a
    visible share of every command that opens a task. The limits still hold: a field
    is printed as the sandbox would print it, and the whole text is measured.
    """
    if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
        return None
    pieces: list[str | tuple[str, ...]] = []
    for node in tree.body[0].nodes:
        if isinstance(node, nodes.TemplateData):
            pieces.append(node.data)
            continue
        path = _name_path(node)
        if path is None:
            return None
        pieces.append(path)

    def render(context: Mapping[str, Any]) -> str:
        out, length = [], 0
        for piece in pieces:
            if isinstance(piece, str):
                text = piece
            else:
                value: Any = context
                for part in piece:
                    value = value.get(part, _MISSING) if isinstance(value, Mapping) else _MISSING
                    if value is _MISSING:
                        break
                if type(value) is not str:
                    value = "" if value is _MISSING else _printed(value, source)
                text = value
            length += len(text)  # measured piece by piece: `{{ t }}{{ t }}...` joins nothing big
            if length > MAX_TEXT_LENGTH:
                raise ExpressionError(f"{quoted(source)}: the template built {OVERLONG_TEXT}")
            out.append(text)
        return "".join(out)

    return render


def _printed(value: Any, source: str) -> str:
    """Print a field's value in a simple template as the sandbox would."""
    if type(value) is str:
        return value
    try:
        return text_of(value)
    except Refusal as exc:
        raise ExpressionError(f"{quoted(source)}: {exc}") from None
    except ValueError as exc:  # a whole number too long to print
        raise ExpressionError(f"{quoted(source)} could not be rendered: {exc}") from None


_MISSING = object()


def _name_path(node: nodes.Node) -> tuple[str, ...] | None:
    """Return ("a", "b") for `a.b`, or None when the node is anything else."""
    if isinstance(node, nodes.Name):
        return (node.name,)
    if isinstance(node, nodes.Getattr) and not hasattr(dict, node.attr):
        # `data.items` means the dict's method to Jinja: leave such names to Jinja.
        inner = _name_path(node.node)
        return (*inner, node.attr) if inner is not None else None
    return None
