"""The description sandbox: billplan's filters, clear messages, and nothing a PR could abuse."""

from __future__ import annotations

import os
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from compiler.templates import TemplateProblem, render

CONTEXT: dict[str, Any] = {
    "vars": {"pm": "Dana Ortiz"},
    "project": {"key": "acme", "name": "Acme", "project_id": 7},
    "charge": {"key": "retainer"},
    "period": None,
    "date": date(2026, 3, 5),
    "amount": Decimal("15000.00"),
    "quantity": None,
    "rate": None,
    "currency": "USD",
}


def problem(source: str) -> str:
    with pytest.raises(TemplateProblem) as caught:
        render(source, CONTEXT)
    return str(caught.value)


def test_plain_text_renders_as_itself() -> None:
    assert render("Kickoff", CONTEXT) == "Kickoff"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ date | month_name }}", "March"),
        ("{{ date | month_abbr }}", "Mar"),
        ("{{ date | quarter }}", "1"),
        ("{{ date | date }}", "2026-03-05"),
        ("{{ date | date('%d %B %Y') }}", "05 March 2026"),
        ("{{ amount | money }}", "15,000.00"),
        ("{{ amount | money('JPY') }}", "15,000"),
        ("{{ vars.pm | upper }}", "DANA ORTIZ"),
    ],
)
def test_filters_format_dates_and_money(source: str, expected: str) -> None:
    assert render(source, CONTEXT) == expected


def test_an_undefined_var_names_it_and_lists_the_vars_there_are() -> None:
    assert problem("{{ vars.owner }}") == (
        "undefined in template: `vars.owner` is not defined (vars has: pm); "
        "add `owner` under `vars:`"
    )


def test_period_on_an_item_without_a_period_says_why_it_is_empty() -> None:
    assert problem("{{ period.start | month_name }}") == (
        "undefined in template: `period.start`: `period` is empty for this item "
        "(milestones and one-off products have no period)"
    )


def test_an_unknown_name_lists_what_a_template_can_use() -> None:
    assert problem("{{ customer }}") == (
        "undefined in template: `customer` is not defined; available: amount, charge, "
        "currency, date, period, project, quantity, rate, vars"
    )


def test_default_gives_a_fallback_for_an_undefined_var() -> None:
    assert render("{{ vars.owner | default('TBD') }}", CONTEXT) == "TBD"


def test_an_unknown_filter_lists_billplans_filters() -> None:
    assert problem("{{ date | month }}") == (
        "template syntax error: no filter named 'month'; billplan's filters are month_name, "
        "month_abbr, quarter, date(fmt), money (template line 1)"
    )


def test_a_syntax_error_says_so_with_the_template_line() -> None:
    assert problem("Line one\n{{ amount ") == (
        "template syntax error: unexpected end of template, expected 'end of print statement' "
        "(template line 2)"
    )


def test_division_by_zero_is_a_template_error_not_a_crash() -> None:
    assert problem("{{ amount / 0 }}") == "template error: division by zero"


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ vars.__class__.__base__.__subclasses__() }}",
        "{{ project.items.__self__ }}",
        "{{ vars.update({'pm': 'x'}) }}",
        "{{ vars | attr('__class__') }}",
        "{{ '{0.__class__}'.format(vars) }}",
    ],
)
def test_python_internals_are_refused(source: str) -> None:
    message = problem(source)
    assert message.startswith("template refused: ")
    assert message.endswith("; templates may only use the documented context and filters")


def test_a_template_cannot_read_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUDDR_API_TOKEN", "secret-token")
    for source in ("{{ environ }}", "{{ os.environ }}", "{{ self.__init__ }}"):
        with pytest.raises(TemplateProblem) as caught:
            render(source, CONTEXT)
        assert "secret-token" not in str(caught.value)
    assert os.environ["RUDDR_API_TOKEN"] == "secret-token"


def test_rendering_never_changes_the_context() -> None:
    before = repr(CONTEXT)
    render("{% set pm = 'Lee' %}{{ pm }}", CONTEXT)
    assert repr(CONTEXT) == before


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'x' * 10**9 }}",
        "{{ [0] * 100000 }}",
        "{{ 'x' | center(10**9) }}",
        "{{ 'x' | indent(99999) }}",
        "{{ 2 ** 100000 }}",
    ],
)
def test_a_template_cannot_allocate_enough_to_exhaust_ci_memory(source: str) -> None:
    with pytest.raises(TemplateProblem, match=r"too large|that many times"):
        render(source, {})


def test_the_money_filter_rounds_with_the_plans_rounding_mode() -> None:
    value = {"amount": Decimal("112.865"), "currency": "USD"}
    assert render("{{ amount | money }}", {**value, "rounding": "half_up"}) == "112.87"
    assert render("{{ amount | money }}", {**value, "rounding": "half_even"}) == "112.86"
