"""The Jinja sandbox that renders descriptions, with billplan's filters.

Plans arrive through pull requests and are applied from CI, so a template must never reach
Python internals, environment variables or files: an immutable sandbox with strict undefined,
no globals, Jinja's built-in filters (safe inside the sandbox) and the plan language's own.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from functools import lru_cache, partial, wraps
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, pass_context
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

from compiler.money import format_grouped, round_money


class TemplateProblem(Exception):
    """A description template that cannot be rendered; the message says why."""


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


def _month_name(value: date) -> str:
    return calendar.month_name[value.month]


def _month_abbr(value: date) -> str:
    return calendar.month_abbr[value.month]


def _quarter(value: date) -> int:
    return (value.month - 1) // 3 + 1


def _date(value: date, fmt: str = "%Y-%m-%d") -> str:
    return value.strftime(fmt)


@pass_context
def _money(context: Context, value: Decimal | int, currency: str | None = None) -> str:
    code = str(currency or context.get("currency") or "USD")
    rounding = context.get("rounding") or "half_up"
    return format_grouped(round_money(Decimal(value), code, rounding), code)


# A description is a line of text. Numbers beyond this in a repetition, a power or a filter
# argument can only be an attempt to exhaust memory on the machine that runs billplan (CI).
SIZE_LIMIT = 10_000


# A width or precision of five digits or more in a %-format or a str.format spec, or one taken
# from an argument (`%*d`, `{0:{1}}`).
_WIDE_FORMAT = re.compile(r"%[-+ #0]*(\d*\.?\d{5,}|\d*\.?\*)|\{[^{}]*:[^{}]*(\d{5,}|\{)")
# str methods that pad to a width they are given.
_PADDING = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


class _PlanSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and _too_big(right, 64):
            raise SecurityError(f"the exponent {right} is too large for a description")
        if operator == "*" and (_too_long(left, right) or _too_long(right, left)):
            raise SecurityError("repeating text that many times is not allowed in a description")
        if operator == "%" and isinstance(left, str) and _WIDE_FORMAT.search(left):
            raise SecurityError("a format width that large is not allowed in a description")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        # 'a'.zfill(10**8): a padding method can allocate as much as a filter can, so the
        # same bound applies.
        padding = isinstance(getattr(__obj, "__self__", None), str) and (
            getattr(__obj, "__name__", "") in _PADDING
        )
        if padding and any(_too_big(a, SIZE_LIMIT) for a in (*args, *kwargs.values())):
            raise SecurityError("a width that large is not allowed in a description")
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # str.format and format_map are looked up here, and never reach `call`.
        owner = getattr(value, "__self__", None)
        formats = getattr(value, "__name__", "") in ("format", "format_map")
        if formats and isinstance(owner, str) and _WIDE_FORMAT.search(owner):
            raise SecurityError("a format width that large is not allowed in a description")
        return super().wrap_str_format(value)


def _too_long(sequence: Any, times: Any) -> bool:
    """Whether sequence * times would be longer than a description can use."""
    if not isinstance(sequence, str | list | tuple) or isinstance(times, bool):
        return False
    return isinstance(times, int | Decimal) and len(sequence) * abs(times) > SIZE_LIMIT


def _too_big(value: Any, limit: int) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool) and abs(value) > limit


def _bounded(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that refuses huge numeric arguments (center(10**9), indent(10**9), ...)."""

    @wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if any(_too_big(a, SIZE_LIMIT) for a in (*args[1:], *kwargs.values())):
            raise SecurityError(
                f"the `{name}` filter was given a number too large for a description"
            )
        return func(*args, **kwargs)

    return guarded


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    env = _PlanSandbox(undefined=_PlanUndefined, autoescape=False)
    env.globals.clear()  # no range(), lipsum(), dict(), cycler(), namespace()
    env.filters = {name: _bounded(name, func) for name, func in env.filters.items()}
    env.filters.update(
        month_name=_month_name,
        month_abbr=_month_abbr,
        quarter=_quarter,
        date=_date,
        money=_money,
    )
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


def render(source: str, context: Mapping[str, Any]) -> str:
    """Render one description; raises TemplateProblem with a message a plan author can act on."""
    if "{" not in source:
        return source  # plain text: most descriptions, and the hot path of large plans
    template = compile_template(source)
    try:
        return template.render(context)
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
