"""The Jinja sandbox that renders descriptions, with billplan's filters.

Plans arrive through pull requests and are applied from CI, so a template must never reach
Python internals, environment variables or files: an immutable sandbox with strict undefined,
no globals, and only the filters listed in the plan language.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, pass_context
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from compiler.money import format_grouped


class TemplateProblem(Exception):
    """A description template that cannot be rendered; the message says why."""


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
    code = currency or context.get("currency") or "USD"
    return format_grouped(Decimal(value), str(code))


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    env.globals.clear()  # no range(), lipsum(), dict(), cycler(), namespace()
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
    except UndefinedError as exc:
        names = ", ".join(sorted(context))
        raise TemplateProblem(f"undefined in template: {exc.message}; available: {names}") from None
    except TemplateError as exc:
        raise TemplateProblem(f"template error: {exc}") from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise TemplateProblem(f"template error: {exc}") from None
