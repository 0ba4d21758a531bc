"""The description sandbox: billplan's filters, clear messages, and nothing a PR could abuse."""

from __future__ import annotations

import os
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from compiler.template_limits import PlanBudget
from compiler.templates import PlanBudgetSpent, TemplateProblem, render

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


def test_loops_macros_joins_and_literals_still_render() -> None:
    source = (
        "{% macro phase(n) %}P{{ n }}{% endmacro %}"
        "{% for n in [1, 2, 3] %}{{ phase(n) }}{% if not loop.last %}, {% endif %}{% endfor %}"
        " | {{ ['a', 'b']|join('-') ~ '!' }} | {{ {'k': 'v'}.k }} | {{ (1, 2)|sum }}"
    )
    assert render(source, CONTEXT) == "P1, P2, P3 | a-b! | v | 3"


def test_a_description_may_take_ten_thousand_steps_and_no_more() -> None:
    loops = "{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}done"
    assert render(loops, {"s": "x" * 90}) == "done"  # 8,100 passes of the inner loop
    with pytest.raises(TemplateProblem, match=r"more than 10,000 steps"):
        render(loops, {"s": "x" * 1000})


def test_a_value_that_would_grow_too_large_is_refused_before_it_is_made() -> None:
    with pytest.raises(TemplateProblem, match=r"`replace` filter would make a value of"):
        render("{{ ('a' * 5000) | replace('a', 'aaaa') }}", {})


def test_text_written_is_counted_as_it_is_written() -> None:
    with pytest.raises(TemplateProblem, match=r"the text written would make a value"):
        render("{% for c in s %}{{ s }}{% endfor %}", {"s": "x" * 200})


def test_a_macro_calling_itself_is_stopped_at_32_calls_deep() -> None:
    with pytest.raises(TemplateProblem, match=r"calls nest more than 32 deep"):
        render("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", {})


def test_a_filter_given_a_value_it_cannot_take_is_a_template_error() -> None:
    assert problem("{{ 1|wordwrap }}").startswith(
        "template error: the `wordwrap` filter cannot take the number 1"
    )


def test_thousands_of_nested_brackets_are_a_template_error_not_a_crash() -> None:
    assert problem("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}") == (
        "template syntax error: it nests too deeply; a description is a line of text"
    )


def test_a_template_longer_than_a_description_may_be_is_refused_uncompiled() -> None:
    assert problem("{{ 1 }}" + "x" * 10_000) == (
        "template refused: it is 10,007 characters long; a description may be at most 10,000"
    )


def test_all_the_descriptions_of_a_plan_share_one_budget() -> None:
    budget = PlanBudget(20_000, "raise it")
    loop = "{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}ok"
    assert render(loop, {"s": "x" * 90}, budget) == "ok"
    assert render(loop, {"s": "x" * 90}, budget) == "ok"
    with pytest.raises(PlanBudgetSpent, match=r"together take more than 20,000 template steps"):
        render(loop, {"s": "x" * 90}, budget)


def test_all_the_descriptions_of_a_plan_render_in_a_bounded_time() -> None:
    budget = PlanBudget(1_000_000, "raise it", seconds=0.0)
    assert render("{{ 1 }}", {}, budget) == "1"  # the time is counted after a rendering
    with pytest.raises(PlanBudgetSpent, match=r"together take more than 0 seconds to render"):
        render("{{ 2 }}", {}, budget)
