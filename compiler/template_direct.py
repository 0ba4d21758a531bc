"""Descriptions that only write values, rendered without Jinja's runtime to the same text.

Most descriptions of a large plan write context values, their attributes and billplan's own
filters: `{{ period.label }}`, `{{ amount | money }}`, `{% if period.is_stub %} ...`. Jinja
renders each one with a new Context, its generated code and its sandbox's attribute checks:
most of the time a 100,000-item plan takes to expand. Nothing such a template does costs
template steps (compiler/template_limits.py meters operations, calls, comparisons, loops and
long values, none of which it has), so it is compiled here, once, into one plain Python
function over the context, which makes exactly the text Jinja would.

The function makes it only from values it knows to write exactly as Jinja does: a name or
key that is there, a short text, a number, a date. For anything else (a missing value, an
attribute of something else, a text long enough to cost steps, a filter that fails) it gives
up, and the caller renders with Jinja, whose output, error and metering are then the ones
that count. So a template rendered here can never say something the sandbox would not. The
code is written from Jinja's parse of the template, every name, key and constant in it
passed as data, never spliced into the source.

An item's `period` may be handed over as the Period itself rather than the mapping Jinja reads
(Period.context()): the function reads the same names from its fields, so that a plan's
items need no mapping made each (compiler/expand/expansion.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from jinja2 import nodes

from compiler.schedule import Period
from compiler.template_limits import CHARS_PER_STEP, WIDTH

# billplan's filters that take a value and constant arguments and run no template code, as
# the sandbox calls them: name -> function(context, value, *args, **kwargs).
Filters = Mapping[str, Callable[..., Any]]


class GiveUp(Exception):
    """A value this module does not write exactly as Jinja would: let Jinja render it."""


_MISSING = object()
# Attributes of a date the sandbox reads as plain values.
_DATE_FIELDS = frozenset({"year", "month", "day"})
# Values a test may be true or false of by Python's own rules (no code of the value runs).
_TESTABLE = frozenset({str, int, bool, type(None), Decimal, date, dict, list})
# The names of Period.context(), each the Period's field or property of that name.
PERIOD_NAMES = frozenset({"start", "end", "label", "index", "count", "days", "is_stub"})


class Direct:
    """A description template compiled to a function: render() gives its text, or None when
    Jinja must render it."""

    def __init__(self, function: Callable[[Mapping[str, Any]], str]) -> None:
        self.function = function

    def render(self, context: Mapping[str, Any]) -> str | None:
        """The text for a context as Jinja's, or with a Period as `period` (the same text)."""
        try:
            text = self.function(context)
        except Exception:  # GiveUp, or a filter that failed: Jinja says what happened
            return None
        return text if len(text) <= WIDTH else None  # Jinja says how it is too long


def read(template: nodes.Template, filters: Filters) -> Direct | None:
    """The template as a Direct, or None when it does more than write values."""
    writer = _Writer(filters)
    try:
        writer.body(template.body, 1)
        return Direct(writer.function())
    except _NotDirect:
        return None
    except (RecursionError, MemoryError, SyntaxError):  # nested past what Python compiles
        return None


class _NotDirect(Exception):
    """The template uses something this module does not render."""


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
    raise GiveUp()


def _truth(value: Any) -> bool:
    """A condition's value, true or false as Python (and so Jinja) judges it."""
    if type(value) is Period:
        return True  # as its context, a mapping never empty
    if type(value) not in _TESTABLE:
        raise GiveUp()
    return bool(value)


def _attribute(owner: Any, attr: str, key_of_dict: bool) -> Any:
    """`owner.attr` as the sandbox reads it: a mapping's key (unless a method of mappings has
    that name: the sandbox finds the method first), or a date's year, month or day."""
    kind = type(owner)
    if kind is dict and key_of_dict:
        found = owner.get(attr, _MISSING)
        if found is not _MISSING:
            return found
    elif (kind is date and attr in _DATE_FIELDS) or (kind is Period and attr in PERIOD_NAMES):
        return getattr(owner, attr)  # no name of a period's is a method of mappings
    raise GiveUp()


def _item(owner: Any, key: str | int) -> Any:
    """`owner[key]`: a mapping's key that is there, or a list's index that is."""
    kind = type(owner)
    if kind is dict:
        found = owner.get(key, _MISSING)
        if found is not _MISSING:
            return found
    elif kind is list and type(key) is int and -len(owner) <= key < len(owner):
        return owner[key]
    elif kind is Period and key in PERIOD_NAMES:
        return getattr(owner, key)
    raise GiveUp()


def _plain(value: Any) -> Any:
    """A value as Jinja has it, for a filter: a Period as its context."""
    return value.context() if type(value) is Period else value


class _Writer:
    """Writes the function's source from the template's nodes: statements appending text to
    `out`, expressions reading the context through the helpers above."""

    def __init__(self, filters: Filters) -> None:
        self.filters = filters
        self.lines: list[str] = []
        self.data: list[Any] = []  # names, keys, constants and filters, by index
        self.names: dict[str, str] = {}  # context name -> its local variable

    def function(self) -> Callable[[Mapping[str, Any]], str]:
        head = ["def render(context):", "    get = context.get", "    out = []"]
        for name, local in self.names.items():
            head.append(f"    {local} = get(DATA[{self._datum(name)}], MISSING)")
            head.append(f"    if {local} is MISSING: raise GiveUp()")
        source = "\n".join([*head, *self.lines, '    return "".join(out)'])
        scope = {
            "DATA": self.data,
            "MISSING": _MISSING,
            "GiveUp": GiveUp,
            "written": _written,
            "truth": _truth,
            "attribute": _attribute,
            "item": _item,
            "plain": _plain,
        }
        exec(compile(source, "<description>", "exec"), scope)  # its own source: no plan text
        return scope["render"]  # type: ignore[no-any-return]

    def _datum(self, value: Any) -> int:
        self.data.append(value)
        return len(self.data) - 1

    def _line(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)

    def body(self, body: list[nodes.Node], depth: int) -> None:
        for node in body:
            if isinstance(node, nodes.Output):
                for child in node.nodes:
                    self._output(child, depth)
            elif isinstance(node, nodes.If):
                self._if(node, depth)
            else:
                raise _NotDirect()

    def _output(self, node: nodes.Expr, depth: int) -> None:
        if isinstance(node, nodes.TemplateData):
            # Jinja writes template text as it is: not finalized.
            self._line(depth, f"out.append(DATA[{self._datum(node.data)}])")
        elif isinstance(node, nodes.Const):
            # Jinja finalizes a constant once, when it compiles: never weighed or paid for.
            self._line(depth, f"out.append(DATA[{self._datum(str(node.value))}])")
        else:
            self._line(depth, f"out.append(written({self._expr(node)}))")

    def _if(self, node: nodes.If, depth: int) -> None:
        self._line(depth, f"if {self._test(node.test)}:")
        self._branch(node.body, depth + 1)
        for elif_ in node.elif_:
            self._line(depth, f"elif {self._test(elif_.test)}:")
            self._branch(elif_.body, depth + 1)
        if node.else_:
            self._line(depth, "else:")
            self._branch(node.else_, depth + 1)

    def _branch(self, body: list[nodes.Node], depth: int) -> None:
        before = len(self.lines)
        self.body(body, depth)
        if len(self.lines) == before:
            self._line(depth, "pass")

    def _test(self, node: nodes.Expr) -> str:
        if isinstance(node, nodes.Not):
            return f"(not {self._test(node.node)})"
        if isinstance(node, nodes.And):
            return f"({self._test(node.left)} and {self._test(node.right)})"
        if isinstance(node, nodes.Or):
            return f"({self._test(node.left)} or {self._test(node.right)})"
        return f"truth({self._expr(node)})"

    def _expr(self, node: nodes.Expr) -> str:
        if isinstance(node, nodes.Name) and node.ctx == "load":
            if node.name not in self.names:
                self.names[node.name] = f"name_{len(self.names)}"
            return self.names[node.name]
        if isinstance(node, nodes.Const):
            return f"DATA[{self._datum(node.value)}]"
        if isinstance(node, nodes.Getattr) and node.ctx == "load":
            key_of_dict = not hasattr(dict, node.attr)
            attr = self._datum(node.attr)
            return f"attribute({self._expr(node.node)}, DATA[{attr}], {key_of_dict})"
        if isinstance(node, nodes.Getitem) and node.ctx == "load":
            if not isinstance(node.arg, nodes.Const) or type(node.arg.value) not in (str, int):
                raise _NotDirect()
            return f"item({self._expr(node.node)}, DATA[{self._datum(node.arg.value)}])"
        if isinstance(node, nodes.Filter) and node.node is not None:
            return self._filter(node)
        raise _NotDirect()

    def _filter(self, node: nodes.Filter) -> str:
        function = self.filters.get(node.name)
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
        subject = self._expr(node.node)  # type: ignore[arg-type]
        if isinstance(node.node, nodes.Name):  # `period` itself may be handed over as a Period
            subject = f"plain({subject})"
        called = f"DATA[{self._datum(function)}]"
        given = f"*DATA[{self._datum(args)}], **DATA[{self._datum(kwargs)}]"
        return f"{called}(context, {subject}, {given})"
