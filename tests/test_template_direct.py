"""Descriptions rendered without Jinja's runtime say exactly what Jinja says: the same text,
the same error, the same template steps taken (compiler/template_direct.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.schedule import Period
from compiler.template_direct import PERIOD_NAMES
from compiler.template_limits import PlanBudget
from compiler.templates import (
    Rendered,
    TemplateProblem,
    _render_jinja,
    prepare,
    render_counted,
)

PERIOD = {
    "start": date(2026, 1, 5),
    "end": date(2026, 1, 31),
    "label": "2026-01",
    "index": 1,
    "count": None,
    "days": 27,
    "is_stub": True,
}


def jinja_alone(source: str, context: dict[str, Any]) -> Rendered | str:
    """What Jinja's own rendering gives: the text and steps, or the error's message."""
    try:
        return _render_jinja(prepare(source).jinja, context, PlanBudget(10**9, ""))
    except TemplateProblem as problem:
        return str(problem)


def as_rendered(source: str, context: dict[str, Any]) -> Rendered | str:
    try:
        return render_counted(source, context, PlanBudget(10**9, ""))
    except TemplateProblem as problem:
        return str(problem)


# Pieces of description templates: what large plans write, and what they must not get wrong.
VALUES = (
    "period", "period.label", "period.start", "period.start.year", "period.end.month",
    "period.days", "period.count", "period.is_stub", "period.missing", "period.items", "date",
    "date.day",
    "amount", "quantity", "rate", "currency", "project.name", "project.project_id",
    "charge.key", "vars.msa", "vars.long", "vars.nested.inner", "vars.list[1]",
    "vars.list[7]", "vars['msa']", "vars.keys", "vars.__class__", "customer", "'text'", "42",
    "none", "true", "amount.real", "vars.big", "vars.small",
)  # fmt: skip
FILTERS = (
    "", " | money", " | money('JPY')", " | money(currency='KWD')", " | month_name",
    " | month_abbr", " | quarter", " | date", " | date('%d %b %Y')", " | date(fmt='%B')",
    " | date('%A ' * 1)", " | upper",
)  # fmt: skip
TESTS = ("period", "period.is_stub", "not period.count", "period and date", "vars.list or amount")

pieces = st.one_of(
    st.sampled_from(("Fee ", " for ", "-", "\n", "{{ 'x' }}", "{# note #}")),
    st.builds(lambda v, f: f"{{{{ {v}{f} }}}}", st.sampled_from(VALUES), st.sampled_from(FILTERS)),
)
blocks = st.one_of(
    pieces,
    st.builds(
        lambda test, body, other: f"{{% if {test} %}}{body}{{% else %}}{other}{{% endif %}}",
        st.sampled_from(TESTS),
        pieces,
        pieces,
    ),
)
templates = st.lists(blocks, min_size=1, max_size=5).map("".join)

contexts = st.fixed_dictionaries(
    {
        "vars": st.fixed_dictionaries(
            {
                "msa": st.sampled_from(("MSA-1", "")),
                "long": st.sampled_from(("x" * 63, "y" * 64, "z" * 200)),
                "nested": st.sampled_from(({"inner": "in"}, {}, "flat")),
                "list": st.sampled_from((["a", "b"], [])),
                "keys": st.just("a key named like a method"),
                "big": st.just(10**200),
                "small": st.just(Decimal("1E-40")),
            }
        ),
        "project": st.just({"key": "acme", "name": "Acme", "project_id": 7}),
        "charge": st.just({"key": "retainer"}),
        "period": st.sampled_from((PERIOD, None, {**PERIOD, "count": 12, "is_stub": False})),
        "date": st.sampled_from((date(2026, 3, 5), None)),
        "amount": st.sampled_from((Decimal("15000.00"), Decimal("-0.50"), Decimal("112.865"))),
        "quantity": st.sampled_from((None, Decimal("3"), 2)),
        "rate": st.sampled_from((None, Decimal("1191.5"))),
        "currency": st.sampled_from(("USD", "JPY")),
        "rounding": st.sampled_from(("half_up", "half_even")),
    }
)


# Periods as the plan makes them: a stub, a whole one, one of an open-ended charge.
D = date
PERIODS = (
    Period(D(2026, 1, 5), D(2026, 1, 31), D(2026, 1, 1), D(2026, 1, 31), "2026-01", 1, 3),
    Period(D(2026, 2, 1), D(2026, 2, 28), D(2026, 2, 1), D(2026, 2, 28), "2026-02", 2, 3),
    Period(D(2026, 3, 1), D(2026, 3, 9), D(2026, 3, 1), D(2026, 3, 31), "2026-03", 7, None),
)


@settings(max_examples=300, deadline=None)
@given(source=templates, context=contexts, period=st.sampled_from(PERIODS))
def test_a_period_handed_over_itself_renders_as_its_context_does(
    source: str, context: dict[str, Any], period: Period
) -> None:
    direct = prepare(source).direct
    if direct is None:
        return
    jinja_context = {**context, "period": period.context()}
    text = direct.render({**context, "period": period})
    # The same text, and the same giving up to Jinja (whose text is then the one that counts).
    assert text == direct.render(jinja_context)
    if text is not None:
        assert Rendered(text, 0) == jinja_alone(source, jinja_context)


def test_a_period_s_context_names_exactly_what_a_direct_function_reads_of_a_period() -> None:
    for period in PERIODS:
        context = period.context()
        assert set(context) == PERIOD_NAMES
        assert all(getattr(period, name) == value for name, value in context.items())


@settings(max_examples=300, deadline=None)
@given(source=templates, context=contexts)
def test_a_description_renders_as_jinja_renders_it_with_the_same_steps(
    source: str, context: dict[str, Any]
) -> None:
    assert as_rendered(source, context) == jinja_alone(source, context)


CONTEXT: dict[str, Any] = {
    "vars": {
        "msa": "MSA-1",
        "long": "y" * 64,
        "nested": {"inner": "in"},
        "list": ["a", "b"],
        "keys": "a key named like a method",
        "big": 10**200,
        "small": Decimal("1E-40"),
    },
    "project": {"key": "acme", "name": "Acme", "project_id": 7},
    "charge": {"key": "retainer"},
    "period": PERIOD,
    "date": date(2026, 3, 5),
    "amount": Decimal("112.865"),
    "quantity": None,
    "rate": Decimal("1191.5"),
    "currency": "USD",
    "rounding": "half_even",
}
NO_PERIOD = {**CONTEXT, "period": None, "date": None, "vars": {}}


@pytest.mark.parametrize("context", [CONTEXT, NO_PERIOD], ids=["period", "none"])
@pytest.mark.parametrize("value", VALUES)
def test_every_value_through_every_filter_renders_as_jinja_renders_it(
    value: str, context: dict[str, Any]
) -> None:
    for used in FILTERS:
        source = f"{{{{ {value}{used} }}}}"
        assert as_rendered(source, context) == jinja_alone(source, context), source


@pytest.mark.parametrize(
    "source",
    [
        "Hosting and operations {{ period.label }}, {{ amount | money }} {{ currency }}",
        "{{ project.name }} retainer {{ period.start | month_name }} {{ period.start.year }}"
        "{% if period.is_stub %} ({{ period.days }} days){% endif %}",
        "Delivery, {{ date | date('%B %Y') }}",
        "Design approved under {{ vars.msa }}",
    ],
)
def test_descriptions_that_only_write_values_are_rendered_directly(source: str) -> None:
    assert prepare(source).direct is not None


@pytest.mark.parametrize(
    "source",
    [
        "{{ charge.key | replace('-', ' ') | title }}",  # metered filters
        "{% if period.index > 1 %}again{% endif %}",  # comparisons are metered
        "{% for n in [1, 2] %}{{ n }}{% endfor %}",
        "{{ amount * 2 }}",
        "{% set label = period.label %}{{ label }}",
        "{{ period.start.isoformat() }}",
    ],
)
def test_templates_that_compute_are_left_to_jinja_and_its_meter(source: str) -> None:
    assert prepare(source).direct is None


def test_a_written_value_long_enough_to_cost_steps_is_left_to_jinja() -> None:
    context = {"vars": {"note": "n" * 130}}
    budget = PlanBudget(10**6, "")
    assert render_counted("{{ vars.note }}", context, budget) == Rendered("n" * 130, 2)
    assert budget.steps == 10**6 - 2 - len("{{ vars.note }}") * 30  # two steps and compiling
