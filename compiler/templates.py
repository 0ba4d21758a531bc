"""The Jinja sandbox that renders descriptions, with billplan's filters.

Plans arrive through pull requests and are applied from CI, so a template must never reach
Python internals, environment variables or files: an immutable sandbox with strict undefined,
no globals, Jinja's built-in filters (safe inside the sandbox) and the plan language's own.
Nor may it exhaust the machine that runs it: every value it makes, every operation and every
loop pass is metered as it runs (compiler/template_limits.py says how much a description may
do, and why). A template that only writes values is rendered without Jinja's runtime, to the
same text (compiler/template_direct.py).
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache, partial, wraps
from typing import Any

from jinja2 import (
    StrictUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
    meta,
    nodes,
    pass_context,
)
from jinja2.compiler import CodeGenerator, Frame, operators, optimizeconst
from jinja2.exceptions import SecurityError, TemplateRuntimeError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

from compiler import template_direct
from compiler import template_limits as limits
from compiler.money import Rounding, format_grouped, round_money
from compiler.template_limits import STEPS, WIDTH, Exhausted, PlanBudget, TooLarge


class TemplateProblem(Exception):
    """A description template that cannot be rendered; the message says why."""


class PlanBudgetSpent(TemplateProblem):
    """The plan's descriptions together have used up its template budget."""


PLAN_FILTERS = ("month_name", "month_abbr", "quarter", "date(fmt)", "money")


class _MissingValue(UndefinedError):
    """An undefined name, remembering what it was looked up on so the message can say so."""

    def __init__(self, message: str, owner: Any, name: Any) -> None:
        super().__init__(message)
        self.owner = owner
        self.name = name


class _PlanUndefined(StrictUndefined):
    __slots__ = ()

    def __init__(
        self,
        hint: str | None = None,
        obj: Any = missing,
        name: str | None = None,
        exc: type[Exception] = UndefinedError,
    ) -> None:
        # Every failing operation raises self._undefined_exception(message): remember the owner.
        # The sandbox passes SecurityError for unsafe attributes; that one must stay as it is.
        if exc is UndefinedError:
            exc = partial(_MissingValue, owner=obj, name=name)  # type: ignore[assignment]
        super().__init__(hint, obj, name, exc)


# A month's names as calendar writes them (it formats a date for every name it gives: a
# few microseconds each, for filters almost every description of a large plan calls).
_MONTH_NAMES = tuple(calendar.month_name)
_MONTH_ABBRS = tuple(calendar.month_abbr)


def _month_name(value: date) -> str:
    return _MONTH_NAMES[value.month]


def _month_abbr(value: date) -> str:
    return _MONTH_ABBRS[value.month]


def _quarter(value: date) -> int:
    return (value.month - 1) // 3 + 1


# Formats up to this long are remembered with the text they made (a longer one is written
# each time: remembered, thousands of them would hold megabytes).
_REMEMBERED_FORMAT = 64


def _date(value: date, fmt: str = "%Y-%m-%d") -> str:
    if type(value) is date and type(fmt) is str and len(fmt) <= _REMEMBERED_FORMAT:
        return _formatted(value, fmt)
    return value.strftime(fmt)


@lru_cache(maxsize=4096)
def _formatted(value: date, fmt: str) -> str:
    """A date as strftime writes it: once per date and format, as a plan's items share
    their dates (strftime takes microseconds)."""
    return value.strftime(fmt)


@pass_context
def _money(context: Context, value: Decimal | int, currency: str | None = None) -> str:
    return _money_in(context, value, currency)


def _money_in(context: Mapping[str, Any], value: Decimal | int, currency: str | None) -> str:
    """The amount rounded and grouped in `currency`, else the item's (Context.get and a
    mapping's get read the same names)."""
    code = str(currency or context.get("currency") or "USD")
    rounding = context.get("rounding") or "half_up"
    if type(value) is Decimal and value.is_finite() and type(rounding) is str:
        return _grouped(value, code, rounding)
    return format_grouped(round_money(Decimal(value), code, rounding), code)


@lru_cache(maxsize=4096)
def _grouped(value: Decimal, code: str, rounding: Rounding) -> str:
    """An amount as the `money` filter writes it: once per amount, as a charge's items
    mostly bill the same one."""
    return format_grouped(round_money(value, code, rounding), code)


# The filters above as compiler/template_direct.py calls them: (context, value, *args).
_DIRECT_FILTERS: Mapping[str, Callable[..., Any]] = {
    "month_name": lambda context, value: _month_name(value),
    "month_abbr": lambda context, value: _month_abbr(value),
    "quarter": lambda context, value: _quarter(value),
    "date": lambda context, value, *args, **kwargs: _date(value, *args, **kwargs),
    "money": lambda context, value, currency=None: _money_in(context, value, currency),
}


_TOLL = "toll"


def _toll(steps: int, lineno: int) -> nodes.ExprStmt:
    """Pays for one run of a body that can run many times (a loop pass, a macro call)."""
    pay = nodes.Call(nodes.EnvironmentAttribute(_TOLL), [nodes.Const(steps)], [], None, None)
    return nodes.ExprStmt(pay, lineno=lineno)


def _is_toll(node: nodes.ExprStmt) -> bool:
    # Only billplan makes these: plan templates cannot write `{% do %}` (no extension).
    call = node.node
    return (
        isinstance(call, nodes.Call)
        and isinstance(call.node, nodes.EnvironmentAttribute)
        and call.node.name == _TOLL
    )


def _size(body: list[nodes.Node]) -> int:
    return sum(1 + sum(1 for _ in node.find_all(nodes.Node)) for node in body)


class _MeteredCode(CodeGenerator):
    """The Python a description compiles to, with every repeatable body paying for its size
    when it runs, every comparison paying for what it compares, and every list, tuple,
    mapping and `~` it builds weighed. (Operators, calls, filters, tests and the values
    written are metered by the sandbox below.)"""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        # Collected first: inserting while find_all walks the bodies would visit nodes twice.
        for repeated in list(node.find_all((nodes.For, nodes.Macro, nodes.CallBlock))):
            repeated.body.insert(0, _toll(1 + _size(repeated.body), repeated.lineno))
        super().visit_Template(node, frame)

    def visit_ExprStmt(self, node: nodes.ExprStmt, frame: Frame) -> None:
        if not _is_toll(node):
            super().visit_ExprStmt(node, frame)
            return
        # Straight to the meter, not through the sandbox's `call`: this runs every loop pass.
        steps = node.node.args[0]
        assert isinstance(steps, nodes.Const)
        self.writeline(f"environment.{_TOLL}({steps.value!r})", node)

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self.write("environment.weighed(")
        super().visit_List(node, frame)
        self.write(")")

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self.write("environment.weighed(")
        super().visit_Dict(node, frame)
        self.write(")")

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx != "load":  # a loop's or a set's targets: `for key, value in ...`
            super().visit_Tuple(node, frame)
            return
        self.write("environment.weighed(")
        super().visit_Tuple(node, frame)
        self.write(")")

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.joined((")
        for part in node.nodes:
            self.visit(part, frame)
            self.write(", ")
        self.write("))")

    @optimizeconst
    def visit_Getitem(self, node: nodes.Getitem, frame: Frame) -> None:
        if not isinstance(node.arg, nodes.Slice):
            super().visit_Getitem(node, frame)
            return
        # Jinja writes slices as Python's own, past the sandbox: route them through it.
        self.write("environment.sliced(")
        self.visit(node.node, frame)
        self.write(", slice(")
        for index, bound in enumerate((node.arg.start, node.arg.stop, node.arg.step)):
            self.write(", " if index else "")
            if bound is None:
                self.write("None")
            else:
                self.visit(bound, frame)
        self.write("))")

    @optimizeconst
    def visit_Compare(self, node: nodes.Compare, frame: Frame) -> None:
        # `==` and `in` walk whole lists and mappings: each operand pays for its size.
        self.write("(environment.operand(")
        self.visit(node.expr, frame)
        self.write(")")
        for operand in node.ops:
            self.write(f" {operators[operand.op]} environment.operand(")
            self.visit(operand.expr, frame)
            self.write(")")
        self.write(")")


class _PlanSandbox(ImmutableSandboxedEnvironment):
    code_generator_class = _MeteredCode
    # Every arithmetic operator is metered; `+` and `*` can double a string or a list.
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def toll(self, steps: int) -> None:
        limits.spend(steps)

    def weighed(self, value: Any) -> Any:
        return limits.check_width(value, "a literal")

    def operand(self, value: Any) -> Any:
        limits.charge(value)
        return value

    def joined(self, parts: tuple[Any, ...]) -> str:
        limits.charge(*parts)
        chars = sum(limits.weight(part) for part in parts)
        if chars > WIDTH:
            raise limits.too_large("`~`", chars)
        return "".join(map(str, parts))

    def sliced(self, value: Any, part: slice) -> Any:
        """`vars.list[1:]`, a copy: weighed like any value made."""
        return limits.check_width(value[part], "a slice")

    def concat(self, pieces: Iterable[str]) -> str:  # type: ignore[override]
        """Join written text: a description, or a macro's or a block's output.

        Joined first and measured after: every piece was written by a node whose run was
        paid for (a piece of 64 characters or more pays for its length), so the whole is at
        most a few times STEPS x 64 characters before it can be refused.
        """
        text = "".join(pieces)
        if len(text) > WIDTH:
            raise limits.too_large("the text written", len(text))
        return text

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        # Paid for first: weighing the operands below is work too, even when it refuses.
        limits.charge(left, right)
        if operator == "**":
            if _too_big(right, 64):
                raise SecurityError(f"the exponent {right} is too large for a description")
            if (digits := limits.power_digits(left, right)) > WIDTH:
                raise limits.too_large(f"raising to the power {right}", digits)
        if operator == "*":
            times = limits.repeated(left, right) or limits.repeated(right, left) or 0
            if times > WIDTH:
                raise SecurityError(
                    "repeating text that many times is not allowed in a description "
                    f"(it would make a value too large: at most {WIDTH:,} characters)"
                )
        if operator == "%" and isinstance(left, str):
            chars = limits.formatted(left, right)
            if chars > WIDTH:
                raise limits.too_large("a %-format", chars)
        result = super().call_binop(context, operator, left, right)
        return limits.check_width(result, "`%s`", operator)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "a function")
        given = {key: value for key, value in kwargs.items() if not key.startswith("_")}
        # A lookup does not walk the mapping: do not charge for all it holds.
        walked = None if isinstance(owner, Mapping) and name in _LOOKUPS else owner
        limits.charge(walked, *args, *given.values())
        if owner is not None:
            # A method of a value: its numbers can only be sizes (zfill, to_bytes, center).
            if any(_too_big(a, WIDTH) for a in (*args, *given.values())):
                raise SecurityError(f"a number that large is not allowed as an argument of {name}")
            text = isinstance(owner, str | bytes | bytearray)
            estimate = limits.METHOD_GROWTH.get(name) if text else None
            if estimate is not None and (chars := estimate(owner, args, given)) > WIDTH:
                raise limits.too_large(f"`{name}`", chars)
        limits.enter_call()
        try:
            result = super().call(__context, __obj, *args, **kwargs)
        finally:
            limits.leave_call()
        return limits.check_width(result, "calling %s", name)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # str.format and format_map are looked up here: weigh what they would make when called.
        formats = super().wrap_str_format(value)
        if formats is None:
            return None
        template = value.__self__

        @wraps(formats)
        def weighed(*args: Any, **kwargs: Any) -> str:
            chars = limits.str_formatted(template, [args, kwargs])
            if chars > WIDTH:
                raise limits.too_large(f"`{value.__name__}`", chars)
            return formats(*args, **kwargs)

        return weighed


# Methods of a mapping that take the same time however much it holds.
_LOOKUPS = frozenset({"get", "keys", "values", "items"})


def _written(value: Any) -> Any:
    """Every value a template writes, weighed before it becomes text (Jinja's `finalize`; a
    function, not a method, as it runs for every `{{ }}`)."""
    if type(value) is str and len(value) < limits.CHARS_PER_STEP:
        return value  # most of what is written: nothing to weigh or pay
    return limits.check_width(value, "a value written")


def _too_big(value: Any, limit: int) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool) and abs(value) > limit


def _metered_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that refuses sizes too large, pays for the characters it handles, and turns
    a value it cannot take into a template error."""
    # pass_context and its kind put the context (or environment) before the value.
    first = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0
    estimate = limits.FILTER_GROWTH.get(name)
    slower = limits.SLOW_FILTERS.get(name, 1)

    @wraps(func)
    def metered(*args: Any, **kwargs: Any) -> Any:
        value = args[first] if len(args) > first else None
        extra = args[first + 1 :]
        if extra or kwargs:
            given = (*extra, *kwargs.values())
            limits.charge(value, *given, slower=slower)
            if any(_too_big(a, WIDTH) for a in given):
                raise SecurityError(
                    f"the `{name}` filter was given a number too large for a description"
                )
        else:  # `amount | money`: the usual filter, and the hot path of a large plan
            limits.charge(value, slower=slower)
        if estimate is not None and (chars := estimate(value, extra, kwargs)) > WIDTH:
            raise limits.too_large(f"the `{name}` filter", chars)
        try:
            result = func(*args, **kwargs)
        except AttributeError as exc:  # `{{ 1|wordwrap }}`: text filters assume text
            raise TemplateRuntimeError(
                f"the `{name}` filter cannot take {_kind(value)} ({exc})"
            ) from None
        if type(result) is str and len(result) < limits.CHARS_PER_STEP:
            return result  # nothing to weigh
        return limits.check_width(result, "the `%s` filter", name)

    return metered


def _metered_test(func: Callable[..., Any]) -> Callable[..., Any]:
    """A test (`is divisibleby(3)`, `is in`) that pays for what it looks at."""

    @wraps(func)
    def metered(*args: Any, **kwargs: Any) -> Any:
        limits.charge(*args, *kwargs.values())
        return func(*args, **kwargs)

    return metered


def _kind(value: Any) -> str:
    if isinstance(value, bool | type(None)):
        return repr(value)
    if isinstance(value, int | Decimal | float):
        return f"the number {value}"
    return f"a {type(value).__name__}"


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    env = _PlanSandbox(undefined=_PlanUndefined, autoescape=False)
    env.globals.clear()  # no range(), lipsum(), dict(), cycler(), namespace()
    env.filters = {name: _metered_filter(name, func) for name, func in env.filters.items()}
    # billplan's own filters take constant time and make a short value from a date or an
    # amount (what `date(fmt)` makes is weighed where it is used): not metered, as they are
    # what almost every description of a large plan calls.
    env.filters.update(
        month_name=_month_name,
        month_abbr=_month_abbr,
        quarter=_quarter,
        date=_date,
        money=_money,
    )
    env.tests = {name: _metered_test(func) for name, func in env.tests.items()}
    env.finalize = _written
    return env


@lru_cache(maxsize=4096)
def compile_template(source: str) -> Template:
    try:
        return environment().from_string(source)
    except TemplateSyntaxError as exc:
        message = (exc.message or "invalid syntax").rstrip(".")
        if message.startswith("No filter named"):
            message = f"{message[:1].lower()}{message[1:]}; billplan's filters are " + ", ".join(
                PLAN_FILTERS
            )
        raise TemplateProblem(
            f"template syntax error: {message} (template line {exc.lineno})"
        ) from None
    except (RecursionError, MemoryError, SyntaxError):
        # Python's own compiler gives up on thousands of nested brackets or blocks.
        raise TemplateProblem(
            "template syntax error: it nests too deeply; a description is a line of text"
        ) from None


@dataclass(frozen=True)
class Prepared:
    """A description template as compiled once per process: Jinja's, the direct reading of
    it when it only writes values, and what its text depends on."""

    jinja: Template
    direct: template_direct.Direct | None
    reads: frozenset[str]  # the context names it reads
    # Whether the same context always renders the same text: no `random` filter, and no
    # calls (a method such as a date's today() reads the clock).
    repeatable: bool


@lru_cache(maxsize=4096)
def prepare(source: str) -> Prepared:
    """Compile a description (TemplateProblem for a syntax error) and read what it does."""
    template = compile_template(source)
    tree = environment().parse(source)  # it compiled: it parses
    return Prepared(
        jinja=template,
        direct=template_direct.read(tree, _DIRECT_FILTERS),
        reads=frozenset(meta.find_undeclared_variables(tree)),
        repeatable=not any(True for _ in tree.find_all(nodes.Call))
        and all(used.name != "random" for used in tree.find_all(nodes.Filter)),
    )


@dataclass(frozen=True)
class Rendered:
    """A description's text and the template steps rendering it took (compiling aside)."""

    text: str
    steps: int


def render(source: str, context: Mapping[str, Any], budget: PlanBudget | None = None) -> str:
    """Render one description; raises TemplateProblem with a message a plan author can act on.

    `budget` is the plan's template budget, shared by all its descriptions; PlanBudgetSpent
    says it ran out.
    """
    if "{" not in source:
        return source  # plain text: most descriptions, and the hot path of large plans
    return render_counted(source, context, budget).text


def render_counted(
    source: str,
    context: Mapping[str, Any],
    budget: PlanBudget | None = None,
    *,
    direct: bool = True,
) -> Rendered:
    """render(), saying how many template steps it took. `direct=False`: the caller's
    render_again() just gave up on this context, so Jinja renders it without a second try."""
    if len(source) > WIDTH:
        raise TemplateProblem(
            f"template refused: it is {len(source):,} characters long; a description may be "
            f"at most {WIDTH:,}"
        )
    if budget is not None and budget.spent:
        raise _spent(budget)
    prepared = prepare(source)
    if budget is not None and source not in budget.compiled:
        budget.pay_compile(source)
    if direct and prepared.direct is not None:
        # No steps to count: only the time, which the plan's budget bounds as well.
        started = time.perf_counter()
        text = prepared.direct.render(context)
        if budget is not None:
            budget.elapsed += time.perf_counter() - started
        if text is not None:
            return Rendered(text, 0)
    return _render_jinja(prepared.jinja, context, budget)


def render_again(
    direct: template_direct.Direct, context: Mapping[str, Any], budget: PlanBudget | None
) -> str | None:
    """render() of a template this plan has rendered before (so its source is checked,
    compiled and paid for) that renders directly: its text, or None when Jinja must."""
    if budget is None:
        return direct.render(context)
    if budget.spent:
        raise _spent(budget)
    started = time.perf_counter()
    text = direct.render(context)
    budget.elapsed += time.perf_counter() - started
    return text


def repeat(rendered: Rendered, budget: PlanBudget | None) -> bool:
    """Pay for rendering a repeatable description again with a context it reads the same:
    what it took the first time, so the plan's budget runs down exactly as if it were
    rendered. False when it must be rendered after all (near the end of the budget, where
    the plan's steps left, not STEPS, bound a rendering)."""
    if budget is None:
        return True
    if budget.spent:
        raise _spent(budget)
    if budget.steps < STEPS:
        return False
    budget.steps -= rendered.steps
    return True


def _render_jinja(
    template: Template, context: Mapping[str, Any], budget: PlanBudget | None
) -> Rendered:
    meter = limits.start(budget)
    steps = 0
    try:
        text = template.render(context)
    except Exhausted as exc:
        if exc.plan and budget is not None:
            raise _spent(budget) from None
        raise TemplateProblem(f"template refused: {exc}") from None
    except TooLarge as exc:
        raise TemplateProblem(f"template refused: {exc}") from None
    except SecurityError as exc:
        raise TemplateProblem(
            f"template refused: {str(exc).rstrip('.')}; "
            "templates may only use the documented context and filters"
        ) from None
    except _MissingValue as exc:
        raise TemplateProblem(f"undefined in template: {_missing(exc, context)}") from None
    except UndefinedError as exc:
        names = ", ".join(sorted(context))
        raise TemplateProblem(f"undefined in template: {exc.message}; available: {names}") from None
    except TemplateError as exc:
        raise TemplateProblem(f"template error: {exc}") from None
    except ZeroDivisionError:
        raise TemplateProblem("template error: division by zero") from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise TemplateProblem(f"template error: {exc}") from None
    except LookupError as exc:  # '{missing}'.format_map(vars), '{3}'.format()
        raise TemplateProblem(f"template error: no {exc} to format") from None
    except RecursionError:
        raise TemplateProblem("template error: it nests too deeply") from None
    except Exception as exc:  # a template is the plan author's code: never a traceback
        raise TemplateProblem(f"template error: {type(exc).__name__}: {exc}") from None
    finally:
        steps = limits.stop(meter, budget)
    return Rendered(text, steps)


def _spent(budget: PlanBudget) -> PlanBudgetSpent:
    took = (
        f"{budget.seconds:g} seconds to render"
        if budget.elapsed > budget.seconds
        else f"{budget.total:,} template steps"
    )
    return PlanBudgetSpent(
        f"template refused: the plan's descriptions together take more than {took}; {budget.advice}"
    )


def _missing(exc: _MissingValue, context: Mapping[str, Any]) -> str:
    """Name the missing value the way the plan author wrote it: vars.owner, period.start."""
    if exc.owner is missing:
        return f"`{exc.name}` is not defined; available: {', '.join(sorted(context))}"
    owner = next((key for key, value in context.items() if value is exc.owner), None)
    if owner is None:
        return str(exc.message)
    written = f"{owner}.{exc.name}"
    if exc.owner is None:
        why = " (milestones and one-off products have no period)" if owner == "period" else ""
        return f"`{written}`: `{owner}` is empty for this item{why}"
    if isinstance(exc.owner, Mapping):
        has = ", ".join(sorted(map(str, exc.owner))) or "nothing"
        todo = f"; add `{exc.name}` under `vars:`" if owner == "vars" else ""
        return f"`{written}` is not defined ({owner} has: {has}){todo}"
    return f"`{written}`: {owner} has no {exc.name!r}"
