"""Descriptions that only write values, rendered without Jinja's runtime to the same text.

Most descriptions of a large plan write context values, their attributes and billplan's own
filters: `{{ period.label }}`, `{{ amount | money }}`, `{% if period.is_stub %} ...`. Jinja
renders each one with a new Context, its generated code and its sandbox's attribute checks:
most of the time a 100,000-item plan takes to expand. Nothing such a template does costs
template steps (compiler/template_limits.py meters operations, calls, comparisons, loops and
long values, none of which it has), so it is read here into a few small functions over the
context instead, which make exactly the text Jinja would.

They make it only for values they know to write exactly as Jinja does: a name or key that is
there, a short text, a number, a date. For anything else (a missing value, an attribute of
something else, a text long enough to cost steps) they give up, and the caller renders with
Jinja, whose output, error and metering are then the ones that count. So a template read here
can never say something the sandbox would not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from jinja2 import nodes

from compiler.template_limits import CHARS_PER_STEP, WIDTH

Getter = Callable[[Mapping[str, Any]], Any]
Part = Callable[[Mapping[str, Any], list[str]], None]
# billplan's filters that take a value and constant arguments and run no template code, as
# the sandbox calls them: name -> function(context, value, *args, **kwargs).
Filters = Mapping[str, Callable[..., Any]]


class GiveUp(Exception):
    """A value this module does not write exactly as Jinja would: let Jinja render it."""


_GIVE_UP = GiveUp()  # raised often on some plans: one instance, no traceback kept
_MISSING = object()
# Attributes of a date the sandbox reads as plain values.
_DATE_FIELDS = frozenset({"year", "month", "day"})
# Values a test may be true or false of by Python's own rules (no code of the value runs).
_TESTABLE = frozenset({str, int, bool, type(None), Decimal, date, dict, list})


class Direct:
    """A description template read into functions: render() gives its text, or None when
    Jinja must render it."""

    def __init__(self, parts: list[Part]) -> None:
        self.parts = parts

    def render(self, context: Mapping[str, Any]) -> str | None:
        out: list[str] = []
        try:
            for part in self.parts:
                part(context, out)
        except GiveUp:
            return None
        text = "".join(out)
        return text if len(text) <= WIDTH else None  # Jinja says how it is too long


def read(template: nodes.Template, filters: Filters) -> Direct | None:
    """The template as a Direct, or None when it does more than write values."""
    try:
        return Direct(_body(template.body, filters))
    except _NotDirect:
        return None


class _NotDirect(Exception):
    """The template uses something this module does not render."""


def _body(body: list[nodes.Node], filters: Filters) -> list[Part]:
    parts: list[Part] = []
    for node in body:
        if isinstance(node, nodes.Output):
            parts.extend(_output(child, filters) for child in node.nodes)
        elif isinstance(node, nodes.If):
            parts.append(_if(node, filters))
        else:
            raise _NotDirect()
    return parts


def _output(node: nodes.Expr, filters: Filters) -> Part:
    if isinstance(node, nodes.TemplateData):
        text = node.data  # Jinja writes template text as it is: not finalized
        return lambda context, out: out.append(text)
    if isinstance(node, nodes.Const):
        # Jinja finalizes a constant once, when it compiles: never weighed or paid for.
        constant = str(node.value)
        return lambda context, out: out.append(constant)
    value = _expr(node, filters)
    return lambda context, out: out.append(_written(value(context)))


def _written(value: Any) -> str:
    """str(value) as the sandbox writes it, for values it weighs at under one step (so that
    writing them costs nothing); GiveUp for any other."""
    kind = type(value)
    if kind is str:
        if len(value) < CHARS_PER_STEP:
            return value
    elif kind is int:
        if value.bit_length() // 3 + 1 < CHARS_PER_STEP:
            return str(value)
    elif kind is Decimal:
        if abs(value.adjusted()) + 30 < CHARS_PER_STEP:  # template_limits._decimal_width
            return str(value)
    elif kind is date or kind is bool or value is None:
        return str(value)
    raise _GIVE_UP


def _if(node: nodes.If, filters: Filters) -> Part:
    branches = [(_test(node.test, filters), _body(node.body, filters))]
    branches += [(_test(elif_.test, filters), _body(elif_.body, filters)) for elif_ in node.elif_]
    otherwise = _body(node.else_, filters)

    def branch(context: Mapping[str, Any], out: list[str]) -> None:
        chosen = otherwise
        for test, body in branches:
            if test(context):
                chosen = body
                break
        for part in chosen:
            part(context, out)

    return branch


def _test(node: nodes.Expr, filters: Filters) -> Getter:
    """A condition, true or false as Python (and so Jinja) judges the value."""
    if isinstance(node, nodes.Not):
        inner = _test(node.node, filters)
        return lambda context: not inner(context)
    if isinstance(node, nodes.And | nodes.Or):
        left, right = _test(node.left, filters), _test(node.right, filters)
        if isinstance(node, nodes.And):
            return lambda context: left(context) and right(context)
        return lambda context: left(context) or right(context)
    value = _expr(node, filters)

    def truth(context: Mapping[str, Any]) -> bool:
        found = value(context)
        if type(found) not in _TESTABLE:
            raise _GIVE_UP
        return bool(found)

    return truth


def _expr(node: nodes.Expr, filters: Filters) -> Getter:
    if isinstance(node, nodes.Name) and node.ctx == "load":
        return _name(node.name)
    if isinstance(node, nodes.Const):
        constant = node.value
        return lambda context: constant
    if isinstance(node, nodes.Getattr) and node.ctx == "load":
        return _attribute(_expr(node.node, filters), node.attr)
    if isinstance(node, nodes.Getitem) and node.ctx == "load":
        if not isinstance(node.arg, nodes.Const) or type(node.arg.value) not in (str, int):
            raise _NotDirect()
        return _item(_expr(node.node, filters), node.arg.value)
    if isinstance(node, nodes.Filter) and node.node is not None:
        return _filter(node, filters)
    raise _NotDirect()


def _name(name: str) -> Getter:
    def value(context: Mapping[str, Any]) -> Any:
        found = context.get(name, _MISSING)
        if found is _MISSING:
            raise _GIVE_UP  # undefined: Jinja says so
        return found

    return value


def _attribute(owner: Getter, attr: str) -> Getter:
    """`owner.attr` as the sandbox reads it: a mapping's key (unless a method of mappings has
    that name: the sandbox finds the method first), or a date's year, month or day."""
    key_of_dict = not hasattr(dict, attr)
    field_of_date = attr in _DATE_FIELDS

    def value(context: Mapping[str, Any]) -> Any:
        found = owner(context)
        kind = type(found)
        if kind is dict and key_of_dict:
            found = found.get(attr, _MISSING)
            if found is not _MISSING:
                return found
        elif kind is date and field_of_date:
            return getattr(found, attr)
        raise _GIVE_UP

    return value


def _item(owner: Getter, key: str | int) -> Getter:
    """`owner[key]`: a mapping's key that is there, or a list's index that is."""

    def value(context: Mapping[str, Any]) -> Any:
        found = owner(context)
        kind = type(found)
        if kind is dict:
            found = found.get(key, _MISSING)
            if found is not _MISSING:
                return found
        elif kind is list and type(key) is int and -len(found) <= key < len(found):
            return found[key]
        raise _GIVE_UP

    return value


def _filter(node: nodes.Filter, filters: Filters) -> Getter:
    function = filters.get(node.name)
    constants = [*node.args, *(keyword.value for keyword in node.kwargs)]
    if (
        function is None
        or node.dyn_args is not None
        or node.dyn_kwargs is not None
        or not all(isinstance(argument, nodes.Const) for argument in constants)
    ):
        raise _NotDirect()
    args = tuple(argument.value for argument in node.args)  # type: ignore[attr-defined]
    kwargs = {keyword.key: keyword.value.value for keyword in node.kwargs}  # type: ignore[attr-defined]
    subject = _expr(node.node, filters)  # type: ignore[arg-type]

    def value(context: Mapping[str, Any]) -> Any:
        found = subject(context)
        try:
            return function(context, found, *args, **kwargs)
        except Exception:  # Jinja reports it, in its words
            raise _GIVE_UP from None

    return value
