"""Expansion into Items, rule by rule, as PLAN-LANGUAGE.md states it.

Each test writes a small plan the way a finance person would and pins the dated, priced items
it expands to. The worked examples of the language reference come first.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest

from compiler.model import Item
from compiler.validate import Checked

D = date.fromisoformat
ExpandPlan = Callable[..., list[Item]]
CheckPlan = Callable[..., Checked]
PlanErrors = Callable[..., list[str]]


def rows(items: list[Item]) -> list[tuple[str | None, str | None, str]]:
    """(label, date, amount) per item, amounts with the currency's decimals as written out."""
    return [(i.label, i.date.isoformat() if i.date else None, str(i.amount)) for i in items]


def of_charge(items: list[Item], charge: str) -> list[Item]:
    return [i for i in items if i.charge == charge]


# --- the worked examples --------------------------------------------------------------------


def test_worked_example_calendar_month_bills_16_of_31_days_for_the_january_stub(
    expand_plan: ExpandPlan,
) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              support:
                description: Support
                every: month
                start: 2026-01-16
                end: 2026-06-30
                amount: 3100
                bill: in_advance
                prorate: daily
        """
    )
    assert rows(items) == [
        ("2026-01", "2026-01-16", "1600.00"),
        ("2026-02", "2026-02-01", "3100.00"),
        ("2026-03", "2026-03-01", "3100.00"),
        ("2026-04", "2026-04-01", "3100.00"),
        ("2026-05", "2026-05-01", "3100.00"),
        ("2026-06", "2026-06-01", "3100.00"),
    ]


def test_worked_example_align_start_clamps_each_anniversary_of_january_31(
    expand_plan: ExpandPlan,
) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              hosting:
                description: Hosting
                every: month
                align: start
                start: 2026-01-31
                count: 4
                amount: 100
        """
    )
    assert [i.date for i in items] == [
        D("2026-01-31"),
        D("2026-02-28"),
        D("2026-03-31"),
        D("2026-04-30"),
    ]
    assert [i.label for i in items] == ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"]
    assert [str(i.amount) for i in items] == ["100.00"] * 4


def test_worked_example_quarter_in_arrears_bills_45_of_90_days_for_q1(
    expand_plan: ExpandPlan,
) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              managed:
                description: Managed service
                every: quarter
                start: 2026-02-15
                end: 2026-12-31
                amount: 9000
                bill: in_arrears
                prorate: daily
        """
    )
    assert rows(items) == [
        ("2026-Q1", "2026-03-31", "4500.00"),
        ("2026-Q2", "2026-06-30", "9000.00"),
        ("2026-Q3", "2026-09-30", "9000.00"),
        ("2026-Q4", "2026-12-31", "9000.00"),
    ]


def test_worked_example_100000_in_three_equal_weights_gives_the_odd_cent_to_the_first(
    expand_plan: ExpandPlan,
) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            milestones:
              delivery:
                description: Delivery
                split:
                  total: 100000
                  parts:
                    design: {date: 2026-03-01, weight: 1}
                    build:  {date: 2026-05-01, weight: 1}
                    launch: {date: 2026-07-01, weight: 1}
        """
    )
    assert [(i.label, str(i.amount)) for i in items] == [
        ("design", "33333.34"),
        ("build", "33333.33"),
        ("launch", "33333.33"),
    ]


def test_the_sample_plan_of_the_language_reference_expands_to_its_documented_items(
    expand_plan: ExpandPlan,
) -> None:
    items = expand_plan(
        """
        vars: {pm: "Dana Ortiz"}
        templates:
          monthly-retainer:
            every: month
            bill: in_advance
            description: "Retainer {{ period.start | month_name }} {{ period.start.year }}"
        projects:
          cloud-infra:
            provider: ruddr
            project_id: d077258e-2158-4f34-aabd-97e971d0c18d
            name: Cloud Infrastructure Services
            cap: 300000
            recurring:
              retainer:
                use: monthly-retainer
                amount: 15000
                start: 2026-01-01
                end: 2026-12-31
                escalate: {by: 3%, every: year}
            milestones:
              kickoff: {description: Kickoff, date: 2026-01-15, amount: 10000}
              delivery:
                split:
                  total: 90000
                  parts:
                    design: {description: Design sign-off, date: 2026-03-01, share: 30%}
                    build:  {description: Build complete,  date: 2026-05-01, share: 40%}
                    launch: {description: Go-live,         date: 2026-07-01, share: 30%}
            products:
              crm-licenses:
                description: Premium CRM licenses
                quantity: 10
                rate: 150
                date: 2026-06-04
        """
    )
    retainer = of_charge(items, "retainer")
    assert len(retainer) == 12
    assert {str(i.amount) for i in retainer} == {"15000.00"}  # first increase is 2027-01-01
    assert retainer[2].description == "Retainer March 2026"
    others = [(i.address, i.date, str(i.amount)) for i in items if i.charge != "retainer"]
    assert others == [
        ("cloud-infra/milestones/kickoff", D("2026-01-15"), "10000.00"),
        ("cloud-infra/milestones/delivery/design", D("2026-03-01"), "27000.00"),
        ("cloud-infra/milestones/delivery/build", D("2026-05-01"), "36000.00"),
        ("cloud-infra/products/crm-licenses", D("2026-06-04"), "1500.00"),
        ("cloud-infra/milestones/delivery/launch", D("2026-07-01"), "27000.00"),
    ]


def test_the_milestones_reference_example_expands_on_a_kantata_project(
    expand_plan: ExpandPlan,
) -> None:
    items = expand_plan(
        """
        projects:
          rollout:
            provider: kantata
            project_id: 5521
            contract_value: 250000
            milestones:
              kickoff: {description: Kickoff, date: 2026-01-15, amount: 10000}
              licence: {description: Setup, date: 2026-02-01, quantity: 4, rate: 1250}
              signoff: {description: Sign-off, date: 2026-03-01, percent: 20%}
              launch:  {description: Go-live, on_completion: {task: 88123}, amount: 5000}
              delivery:
                split:
                  total: 90000
                  parts:
                    design: {date: 2026-03-01, share: 30%, description: Design}
                    build:  {date: 2026-05-01, share: 40%, description: Build}
                    launch: {date: 2026-07-01, share: 30%, description: Launch}
        """
    )
    assert [(i.address, i.date, str(i.amount), i.task) for i in items] == [
        ("rollout/milestones/kickoff", D("2026-01-15"), "10000.00", None),
        ("rollout/milestones/licence", D("2026-02-01"), "5000.00", None),
        ("rollout/milestones/delivery/design", D("2026-03-01"), "27000.00", None),
        ("rollout/milestones/signoff", D("2026-03-01"), "50000.00", None),
        ("rollout/milestones/delivery/build", D("2026-05-01"), "36000.00", None),
        ("rollout/milestones/delivery/launch", D("2026-07-01"), "27000.00", None),
        ("rollout/milestones/launch", None, "5000.00", 88123),
    ]


# --- periods: calendar and start alignment ----------------------------------------------------


def test_n_months_blocks_start_with_the_month_that_contains_start(
    expand_plan: ExpandPlan,
) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              audit:
                description: Audit
                every: 2 months
                start: 2026-02-10
                end: 2026-07-31
                amount: 5900
        """
    )
    # 2026-02-10..2026-03-31 is 50 of the 59 days of the Feb-Mar block: 5900 x 50 / 59 = 5000.
    assert rows(items) == [
        ("2026-02", "2026-02-10", "5000.00"),
        ("2026-04", "2026-04-01", "5900.00"),
        ("2026-06", "2026-06-01", "5900.00"),
    ]
    assert [(i.period.start, i.period.end) for i in items if i.period] == [
        (D("2026-02-10"), D("2026-03-31")),
        (D("2026-04-01"), D("2026-05-31")),
        (D("2026-06-01"), D("2026-07-31")),
    ]


def test_weekly_charges_follow_iso_weeks_and_prorate_a_midweek_start(
    expand_plan: ExpandPlan,
) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              standby:
                description: Standby
                every: week
                start: 2026-01-07
                count: 3
                amount: 700
        """
    )
    # 2026-01-07 is a Wednesday: Wednesday to Sunday is 5 of 7 days.
    assert rows(items) == [
        ("2026-W02", "2026-01-07", "500.00"),
        ("2026-W03", "2026-01-12", "700.00"),
        ("2026-W04", "2026-01-19", "700.00"),
    ]


def test_yearly_calendar_periods_are_labelled_by_the_year(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              licence:
                description: Licence
                every: year
                start: 2026-01-01
                count: 2
                amount: 1200
        """
    )
    assert rows(items) == [("2026", "2026-01-01", "1200.00"), ("2027", "2027-01-01", "1200.00")]


def test_align_start_periods_run_from_one_anniversary_to_the_day_before_the_next(
    expand_plan: ExpandPlan,
) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              hosting:
                description: Hosting
                every: month
                align: start
                start: 2026-01-16
                end: 2026-03-15
                amount: 100
        """
    )
    assert [(i.label, i.period.start, i.period.end) for i in items if i.period] == [
        ("2026-01-16", D("2026-01-16"), D("2026-02-15")),
        ("2026-02-16", D("2026-02-16"), D("2026-03-15")),
    ]
    assert not any(i.period.is_stub for i in items if i.period)


# --- billing dates: bill and day --------------------------------------------------------------


def test_in_arrears_dates_a_first_stub_on_its_months_last_day_and_a_final_stub_on_end(
    expand_plan: ExpandPlan,
) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              support:
                description: Support
                every: month
                bill: in_arrears
                start: 2026-01-16
                end: 2026-03-15
                amount: 3100
        """
    )
    # March stub: 15 of 31 days of 3100 = 1500.00
    assert rows(items) == [
        ("2026-01", "2026-01-31", "1600.00"),
        ("2026-02", "2026-02-28", "3100.00"),
        ("2026-03", "2026-03-15", "1500.00"),
    ]


def test_day_number_moves_each_date_within_its_month_clamped_to_the_months_length(
    expand_plan: ExpandPlan,
) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              support:
                description: Support
                every: month
                day: 30
                start: 2026-01-01
                count: 3
                amount: 100
        """
    )
    assert [i.date for i in items] == [D("2026-01-30"), D("2026-02-28"), D("2026-03-30")]


def test_day_moves_even_a_first_stubs_date_within_its_own_month(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              support:
                description: Support
                every: month
                day: 1
                start: 2026-01-16
                count: 2
                amount: 3100
        """
    )
    assert rows(items) == [
        ("2026-01", "2026-01-01", "1600.00"),
        ("2026-02", "2026-02-01", "3100.00"),
    ]


def test_day_last_dates_each_period_on_its_months_last_day(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              support:
                description: Support
                every: quarter
                day: last
                start: 2026-01-01
                count: 2
                amount: 100
        """
    )
    # in_advance dates the quarter on its first day; `last` moves it within that month.
    assert [i.date for i in items] == [D("2026-01-31"), D("2026-04-30")]


def test_business_days_skip_weekends(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              first:
                description: First
                every: month
                day: first_business_day
                start: 2026-02-01
                count: 2
                amount: 100
              last:
                description: Last
                every: month
                day: last_business_day
                bill: in_arrears
                start: 2026-01-01
                count: 1
                amount: 100
        """
    )
    # 2026-02-01 and 2026-03-01 are Sundays; 2026-01-31 is a Saturday.
    assert [i.date for i in of_charge(items, "first")] == [D("2026-02-02"), D("2026-03-02")]
    assert [i.date for i in of_charge(items, "last")] == [D("2026-01-30")]


def test_holidays_under_defaults_are_not_business_days(expand_plan: ExpandPlan) -> None:
    head = """\
version: 1
providers: {ruddr: {type: ruddr}}
defaults: {currency: USD, holidays: [2026-02-02]}
"""
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              support:
                description: Support
                every: month
                day: first_business_day
                start: 2026-02-01
                count: 1
                amount: 100
        """,
        head=head,
    )
    assert [i.date for i in items] == [D("2026-02-03")]


def test_holidays_on_a_project_replace_the_defaults_list_for_that_project(
    expand_plan: ExpandPlan,
) -> None:
    # Nearer wins for holidays as for every setting: the project's list is the whole list.
    head = """\
version: 1
providers: {ruddr: {type: ruddr}}
defaults: {currency: USD, holidays: [2026-02-02]}
"""
    items = expand_plan(
        """
        projects:
          italy:
            provider: ruddr
            project_id: 1
            holidays: [2026-06-01, 2026-06-02]
            recurring:
              support:
                description: Support
                every: month
                day: first_business_day
                start: 2026-02-01
                end: 2026-06-30
                amount: 100
        """,
        head=head,
    )
    assert [i.date for i in items] == [
        D("2026-02-02"),  # the defaults' holiday does not apply to this project
        D("2026-03-02"),
        D("2026-04-01"),
        D("2026-05-01"),
        D("2026-06-03"),
    ]


# --- amounts: proration, steps, escalation ---------------------------------------------------


def test_prorate_none_bills_a_stub_the_full_amount(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              support:
                description: Support
                every: month
                prorate: none
                start: 2026-01-16
                end: 2026-02-10
                amount: 3100
        """
    )
    assert rows(items) == [
        ("2026-01", "2026-01-16", "3100.00"),
        ("2026-02", "2026-02-01", "3100.00"),
    ]


def test_prorate_skip_bills_no_item_for_a_first_or_final_stub(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              support:
                description: Support
                every: month
                prorate: skip
                start: 2026-01-16
                end: 2026-04-10
                amount: 3100
        """
    )
    assert rows(items) == [
        ("2026-02", "2026-02-01", "3100.00"),
        ("2026-03", "2026-03-01", "3100.00"),
    ]


def test_count_counts_periods_including_a_first_stub(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              support:
                description: Support
                every: month
                start: 2026-01-16
                count: 3
                amount: 3100
        """
    )
    assert [i.label for i in items] == ["2026-01", "2026-02", "2026-03"]
    assert items[-1].period is not None and items[-1].period.end == D("2026-03-31")


def test_an_open_ended_charge_bills_every_period_starting_by_as_of_plus_horizon(
    expand_plan: ExpandPlan,
) -> None:
    body = """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              support:
                description: Support
                every: month
                start: 2026-01-01
                horizon: 3 months
                amount: 100
        """
    labels = [i.label for i in expand_plan(body, as_of=D("2026-02-15"))]
    # as-of + 3 months = 2026-05-15: May starts on or before it, June does not.
    assert labels == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05"]


def test_a_horizon_under_defaults_applies_to_open_ended_charges_and_follows_as_of(
    expand_plan: ExpandPlan,
) -> None:
    head = """\
version: 1
providers: {ruddr: {type: ruddr}}
defaults: {currency: USD, horizon: 1 month}
"""
    body = """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              support: {description: Support, every: month, start: 2026-01-01, amount: 100}
        """
    early = expand_plan(body, as_of=D("2026-01-01"), head=head)
    later = expand_plan(body, as_of=D("2026-06-01"), head=head)
    assert [i.label for i in early] == ["2026-01", "2026-02"]
    assert [i.label for i in later][-1] == "2026-07"
    assert len(later) == 7


def test_an_amounts_step_applies_to_periods_that_begin_on_or_after_its_from(
    expand_plan: ExpandPlan,
) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              support:
                description: Support
                every: month
                start: 2026-05-01
                end: 2026-08-31
                amounts:
                  - {from: 2026-05-01, amount: 3000}
                  - {from: 2026-06-01, amount: 3500}
                  - {from: 2026-07-15, amount: 4000}
        """
    )
    # July begins before its step takes effect on the 15th, so July still bills 3500.
    assert [str(i.amount) for i in items] == ["3000.00", "3500.00", "3500.00", "4000.00"]


def test_escalation_by_default_starts_one_escalation_period_after_start(
    expand_plan: ExpandPlan,
) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              support:
                description: Support
                every: month
                start: 2026-03-01
                end: 2027-04-30
                amount: 1000
                escalate: {by: 10%}
        """
    )
    amounts = {i.label: str(i.amount) for i in items}
    assert amounts["2027-02"] == "1000.00"
    assert amounts["2027-03"] == "1100.00"  # 2026-03-01 + 1 year
    assert amounts["2027-04"] == "1100.00"


def test_escalation_with_an_explicit_from_increases_on_that_date(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              support:
                description: Support
                every: month
                start: 2026-01-01
                end: 2027-08-31
                amount: 1000
                escalate: {by: 10%, every: year, from: 2026-07-01}
        """
    )
    amounts = {i.label: str(i.amount) for i in items}
    assert (amounts["2026-06"], amounts["2026-07"]) == ("1000.00", "1100.00")
    assert (amounts["2027-06"], amounts["2027-07"]) == ("1100.00", "1210.00")


def test_escalation_compounds_exactly_and_rounds_once_per_line(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              licence:
                description: Licence
                every: year
                start: 2026-01-01
                count: 4
                amount: 1234
                escalate: {by: 3%, every: year}
        """
    )
    # 1234 x 1.03^3 = 1348.425118 -> 1348.43; rounding each year would drift to 1348.42.
    assert [str(i.amount) for i in items] == ["1234.00", "1271.02", "1309.15", "1348.43"]


def test_a_negative_escalation_decreases_the_amount(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              licence:
                description: Licence
                every: year
                start: 2026-01-01
                count: 2
                amount: 1000
                escalate: {by: -5%}
        """
    )
    assert [str(i.amount) for i in items] == ["1000.00", "950.00"]


# --- milestones -------------------------------------------------------------------------------


def test_a_milestone_with_quantity_and_rate_bills_their_product_rounded_once(
    expand_plan: ExpandPlan,
) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            milestones:
              training: {description: Training, date: 2026-02-01, quantity: 3, rate: "33.333"}
        """
    )
    (item,) = items
    assert (item.quantity, item.rate, str(item.amount)) == (
        Decimal(3),
        Decimal("33.333"),
        "100.00",  # 99.999 rounded at the line
    )


def test_a_percent_milestone_bills_that_share_of_the_contract_value(
    expand_plan: ExpandPlan,
) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            contract_value: 123456.78
            milestones:
              signoff: {description: Sign-off, date: 2026-03-01, percent: 12.5%}
        """
    )
    (item,) = items
    assert str(item.amount) == "15432.10"  # 15432.0975 half up
    assert item.percent == Decimal("12.5")


def test_split_shares_allocate_leftover_cents_to_the_largest_remainders(
    expand_plan: ExpandPlan,
) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            milestones:
              delivery:
                description: Delivery
                split:
                  total: 100.00
                  parts:
                    a: {date: 2026-03-01, share: 33.335%}
                    b: {date: 2026-03-01, share: 33.333%}
                    c: {date: 2026-03-01, share: 33.332%}
        """
    )
    # exact 33.335, 33.333, 33.332: floors 33.33+33.33+33.33 = 99.99; a has the largest rest.
    assert [(i.label, str(i.amount)) for i in items] == [
        ("a", "33.34"),
        ("b", "33.33"),
        ("c", "33.33"),
    ]


def test_split_weights_divide_the_total_by_relative_size(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            milestones:
              delivery:
                description: Delivery
                split:
                  total: 1000
                  parts:
                    design: {date: 2026-03-01, weight: 2}
                    build:  {date: 2026-05-01, weight: 1.5}
                    launch: {date: 2026-07-01, weight: 0.5}
        """
    )
    assert [str(i.amount) for i in items] == ["500.00", "375.00", "125.00"]


def test_a_split_without_total_divides_the_projects_contract_value(
    expand_plan: ExpandPlan,
) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            contract_value: 80000
            milestones:
              delivery:
                description: Delivery
                split:
                  parts:
                    first:  {date: 2026-03-01, share: 25%}
                    second: {date: 2026-06-01, share: 75%}
        """
    )
    assert [str(i.amount) for i in items] == ["20000.00", "60000.00"]


def test_split_parts_without_a_description_take_the_milestones(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            milestones:
              delivery:
                description: "Delivery ({{ amount | money }})"
                split:
                  total: 1000
                  parts:
                    first:  {date: 2026-03-01, share: 40%, description: Design}
                    second: {date: 2026-06-01, share: 60%}
        """
    )
    assert [i.description for i in items] == ["Design", "Delivery (600.00)"]


def test_split_parts_without_a_date_take_the_milestones_date(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            milestones:
              deposit:
                description: Deposit
                date: 2026-02-01
                split:
                  total: 1000
                  parts:
                    hardware: {share: 70%}
                    services: {share: 30%, date: 2026-04-01}
        """
    )
    assert [(i.label, i.date) for i in items] == [
        ("hardware", D("2026-02-01")),
        ("services", D("2026-04-01")),
    ]


def test_a_split_parts_written_date_is_checked_before_any_part_is_described(
    plan_errors: PlanErrors,
) -> None:
    # What is written (every part's date) is read before anything is computed from it, as
    # for other charges; so the impossible date is the problem reported for the milestone.
    errors = plan_errors(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            milestones:
              deposit:
                split:
                  total: 100
                  parts:
                    design: {share: 50%, date: 2026-01-15, description: "{{ nope }}"}
                    build: {share: 50%, date: 2026-02-30, description: Build}
        """
    )
    assert errors == [
        "18:39: $.projects.acme.milestones.deposit.split.parts.build.date: 2026-02-30 is not "
        "a real calendar date: February 2026 has 28 days"
    ]


def test_an_on_completion_milestone_on_kantata_has_a_task_and_no_date(
    expand_plan: ExpandPlan,
) -> None:
    items = expand_plan(
        """
        projects:
          rollout:
            provider: kantata
            project_id: 5521
            milestones:
              launch: {description: Go-live, on_completion: {task: "88123"}, amount: 5000}
        """
    )
    (item,) = items
    assert (item.date, item.task, item.provider_type) == (None, "88123", "kantata")


# --- products ---------------------------------------------------------------------------------


def test_a_one_off_product_bills_quantity_times_rate_on_its_date(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            products:
              crm-licenses:
                description: Premium CRM licenses
                quantity: 10
                rate: 150
                date: 2026-06-04
        """
    )
    (item,) = items
    assert (item.address, item.date, item.quantity, item.rate, str(item.amount)) == (
        "acme/products/crm-licenses",
        D("2026-06-04"),
        Decimal(10),
        Decimal(150),
        "1500.00",
    )
    assert item.period is None and item.label is None


def test_a_repeating_product_is_never_prorated(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            products:
              seats:
                description: Seats
                quantity: 10
                rate: 15
                every: month
                start: 2026-01-16
                end: 2026-03-10
        """
    )
    assert [(i.address, i.date, str(i.amount)) for i in items] == [
        ("acme/products/seats/2026-01", D("2026-01-16"), "150.00"),
        ("acme/products/seats/2026-02", D("2026-02-01"), "150.00"),
        ("acme/products/seats/2026-03", D("2026-03-01"), "150.00"),
    ]
    assert items[0].period is not None and items[0].period.is_stub


def test_a_product_with_neither_date_nor_every_says_neither_is_given(
    plan_errors: PlanErrors,
) -> None:
    errors = plan_errors(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            products:
              seats: {description: Seats, quantity: 10, rate: 15}
        """
    )
    assert errors == [
        "13:14: $.projects.acme.products.seats: a product needs either `date` (one-off) or "
        "`every` and `start` (repeating); neither is given"
    ]


# --- templates ----------------------------------------------------------------------------------


def test_use_deep_merges_the_template_and_the_charges_own_keys_win(
    expand_plan: ExpandPlan,
) -> None:
    items = expand_plan(
        """
        templates:
          retainer:
            every: month
            description: Template text
            amount: 999
            escalate: {by: 10%, every: year}
            wethod: {vat_rate_id: 1, payment_term_id: 2}
        projects:
          milan:
            provider: wethod
            project_id: 7
            recurring:
              support:
                use: retainer
                description: "Support {{ period.label }}"
                amount: 1000
                start: 2026-01-01
                end: 2027-01-31
                wethod: {payment_term_id: 5}
        """
    )
    assert items[0].description == "Support 2026-01"
    assert str(items[0].amount) == "1000.00"
    assert str(items[-1].amount) == "1100.00"  # the template's escalation still applies
    # nested mappings merge key by key: the template's VAT rate, the charge's payment term
    assert dict(items[0].options) == {"vat_rate_id": 1, "payment_term_id": 5}


# --- currencies and rounding ------------------------------------------------------------------


def test_jpy_amounts_round_to_whole_yen(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          tokyo:
            provider: ruddr
            project_id: 1
            currency: JPY
            recurring:
              support:
                description: Support
                every: month
                start: 2026-01-16
                count: 2
                amount: 10000
        """
    )
    # 10000 x 16 / 31 = 5161.29...
    assert [(str(i.amount), i.currency) for i in items] == [("5161", "JPY"), ("10000", "JPY")]


def test_kwd_amounts_carry_three_decimals(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          kuwait:
            provider: ruddr
            project_id: 1
            currency: KWD
            recurring:
              support:
                description: Support
                every: month
                start: 2026-01-16
                count: 2
                amount: 100.125
        """
    )
    # 100.125 x 16 / 31 = 51.677419...
    assert [str(i.amount) for i in items] == ["51.677", "100.125"]


@pytest.mark.parametrize(
    ("rounding", "expected"),
    [("half_up", ["10.01", "10.02", "-10.01"]), ("half_even", ["10.00", "10.02", "-10.00"])],
)
def test_rounding_half_up_and_half_even_differ_only_on_exact_halves(
    expand_plan: ExpandPlan, rounding: str, expected: list[str]
) -> None:
    items = expand_plan(
        f"""
        projects:
          acme:
            provider: ruddr
            project_id: 1
            rounding: {rounding}
            products:
              a: {{description: A, quantity: 1, rate: "10.005", date: 2026-01-01}}
              b: {{description: B, quantity: 1, rate: "10.015", date: 2026-01-02}}
              c: {{description: C, quantity: 1, rate: "-10.005", date: 2026-01-03}}
        """
    )
    assert [str(i.amount) for i in items] == expected


def test_a_charge_may_set_its_own_currency_and_rounding(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            products:
              eur: {description: E, quantity: 1, rate: "0.125", date: 2026-01-01, currency: EUR,
                    rounding: half_even}
              usd: {description: U, quantity: 1, rate: "0.125", date: 2026-01-02}
        """
    )
    assert [(i.currency, str(i.amount)) for i in items] == [("EUR", "0.12"), ("USD", "0.13")]


def test_negative_amounts_are_credits_and_prorate_like_charges(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              discount:
                description: Loyalty discount
                every: month
                start: 2026-01-16
                count: 2
                amount: -3100
            milestones:
              goodwill: {description: Goodwill credit, date: 2026-03-01, amount: -250.50}
        """
    )
    assert [str(i.amount) for i in items] == ["-1600.00", "-3100.00", "-250.50"]


def test_a_zero_amount_still_bills_an_item(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            milestones:
              waived: {description: Setup (waived), date: 2026-01-15, amount: 0}
        """
    )
    assert [str(i.amount) for i in items] == ["0.00"]


# --- caps -------------------------------------------------------------------------------------


def test_a_cap_counts_only_positive_charges(check_plan: CheckPlan) -> None:
    checked = check_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            cap: 10000
            milestones:
              work:   {description: Work,   date: 2026-01-15, amount: 10000}
              credit: {description: Credit, date: 2026-02-15, amount: -2000}
        """
    )
    assert checked.diagnostics == []
    assert len(checked.items) == 2


def test_a_cap_exceeded_by_one_cent_is_an_error_saying_by_how_much(plan_errors: PlanErrors) -> None:
    errors = plan_errors(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            cap: 10000
            milestones:
              work:  {description: Work,  date: 2026-01-15, amount: 9999.99}
              extra: {description: Extra, date: 2026-02-15, amount: 0.02}
        """
    )
    assert errors == [
        "12:10: $.projects.acme.cap: cap 10,000.00 USD exceeded by 0.01 USD: positive charges "
        "total 10,000.01 USD; raise the cap or reduce the charges"
    ]


# --- provider options ---------------------------------------------------------------------------


def test_provider_options_resolve_defaults_then_project_then_charge_key_by_key(
    expand_plan: ExpandPlan,
) -> None:
    head = """\
version: 1
providers: {wethod: {type: wethod, company: acme}, ruddr: {type: ruddr}}
defaults:
  currency: EUR
  wethod: {vat_rate_id: 1, payment_term_id: 2, purchase_order: PO-1}
  ruddr: {invoice_item: not-for-wethod}
"""
    items = expand_plan(
        """
        projects:
          milan:
            provider: wethod
            project_id: 77
            wethod: {vat_rate_id: 3, budget_area_uid: area-9}
            milestones:
              kickoff: {description: Kickoff, date: 2026-01-15, amount: 100}
              launch:
                description: Launch
                date: 2026-02-15
                amount: 100
                wethod: {purchase_order: PO-2}
        """,
        head=head,
    )
    assert [dict(i.options) for i in items] == [
        {
            "vat_rate_id": 3,
            "payment_term_id": 2,
            "purchase_order": "PO-1",
            "budget_area_uid": "area-9",
        },
        {
            "vat_rate_id": 3,
            "payment_term_id": 2,
            "purchase_order": "PO-2",
            "budget_area_uid": "area-9",
        },
    ]


def test_an_item_without_options_for_its_vendor_has_empty_options(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          solar:
            provider: coperniq
            project_id: 12
            milestones:
              install: {description: Install, date: 2026-01-15, amount: 100}
        """
    )
    assert [(i.provider, i.provider_type, dict(i.options)) for i in items] == [
        ("coperniq", "coperniq", {})
    ]


# --- addresses and order -----------------------------------------------------------------------


def test_every_kind_of_item_has_the_documented_address(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              retainer: {description: R, every: quarter, start: 2026-01-01, count: 1, amount: 1}
            milestones:
              kickoff: {description: K, date: 2026-01-02, amount: 1}
              delivery:
                description: D
                split: {total: 2, parts: {design: {date: 2026-01-03, share: 100%}}}
            products:
              laptop: {description: L, quantity: 1, rate: 1, date: 2026-01-04}
              seats: {description: S, quantity: 1, rate: 1, every: month, align: start,
                      start: 2026-01-05, count: 1}
        """
    )
    assert {(i.kind, i.address) for i in items} == {
        ("recurring", "acme/recurring/retainer/2026-Q1"),
        ("milestone", "acme/milestones/kickoff"),
        ("milestone", "acme/milestones/delivery/design"),
        ("product", "acme/products/laptop"),
        ("product", "acme/products/seats/2026-01-05"),
    }


def test_changing_amount_description_day_or_bill_keeps_every_address(
    expand_plan: ExpandPlan,
) -> None:
    before = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              support: {description: A, every: month, start: 2026-01-16, count: 3, amount: 100}
        """
    )
    after = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              support: {description: B, every: month, start: 2026-01-16, count: 3, amount: 200,
                        day: last, bill: in_arrears}
        """
    )
    assert [i.address for i in before] == [i.address for i in after]
    assert [i.date for i in before] != [i.date for i in after]


def test_items_are_sorted_by_project_then_date_then_address(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          zeta:
            provider: ruddr
            project_id: 2
            milestones:
              early: {description: E, date: 2026-01-01, amount: 1}
          alpha:
            provider: kantata
            project_id: 1
            milestones:
              waiting: {description: W, on_completion: {task: 9}, amount: 1}
              late:    {description: L, date: 2026-03-01, amount: 1}
              b-same:  {description: B, date: 2026-02-01, amount: 1}
              a-same:  {description: A, date: 2026-02-01, amount: 1}
        """
    )
    assert [i.address for i in items] == [
        "alpha/milestones/a-same",
        "alpha/milestones/b-same",
        "alpha/milestones/late",
        "alpha/milestones/waiting",  # no date yet: after every dated item of its project
        "zeta/milestones/early",
    ]


# --- descriptions: Jinja context and filters ----------------------------------------------------


def test_a_description_sees_vars_project_charge_and_period(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        vars: {pm: Dana Ortiz}
        projects:
          cloud-infra:
            provider: ruddr
            project_id: 42
            name: Cloud Infrastructure
            recurring:
              retainer:
                description: >-
                  {{ project.name }} ({{ project.key }}, #{{ project.project_id }})
                  {{ charge.key }} {{ period.label }} {{ period.index }}/{{ period.count }}
                  {{ period.start }}..{{ period.end }} {{ period.days }}d
                  stub={{ period.is_stub }} PM {{ vars.pm }}
                every: month
                start: 2026-01-16
                count: 2
                amount: 3100
        """
    )
    assert items[0].description == (
        "Cloud Infrastructure (cloud-infra, #42) retainer 2026-01 1/2 2026-01-16..2026-01-31 "
        "16d stub=True PM Dana Ortiz"
    )


def test_a_description_sees_the_items_date_amount_quantity_rate_and_currency(
    expand_plan: ExpandPlan,
) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            products:
              seats:
                description: >-
                  {{ quantity }} x {{ rate }} = {{ amount }} {{ currency }} on {{ date }}
                quantity: 12
                rate: 1250.5
                date: 2026-06-04
        """
    )
    assert items[0].description == "12 x 1250.5 = 15006.00 USD on 2026-06-04"


def test_description_filters_name_months_quarters_and_format_dates_and_money(
    expand_plan: ExpandPlan,
) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            milestones:
              signoff:
                description: >-
                  {{ date | month_name }} {{ date | month_abbr }} Q{{ date | quarter }}
                  {{ date | date('%d/%m/%Y') }} {{ amount | money }}
                date: 2026-08-07
                amount: 15000
        """
    )
    assert items[0].description == "August Aug Q3 07/08/2026 15,000.00"


def test_the_money_filter_uses_the_items_currency(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          tokyo:
            provider: ruddr
            project_id: 1
            currency: JPY
            milestones:
              kickoff: {description: "Kickoff {{ amount | money }} yen", date: 2026-01-15,
                        amount: 1500000}
        """
    )
    assert items[0].description == "Kickoff 1,500,000 yen"


# --- the sandbox --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ vars.__class__.__init__.__globals__ }}",
        "{{ self._TemplateReference__context }}",
        "{{ vars.update(pm='x') }}",
        "{{ date.__class__ }}",
        "{{ vars.pop('pm') }}",
    ],
)
def test_a_description_cannot_reach_python_internals(
    plan_errors: PlanErrors, template: str
) -> None:
    errors = plan_errors(
        f"""
        vars: {{pm: Dana}}
        projects:
          acme:
            provider: ruddr
            project_id: 1
            milestones:
              kickoff: {{description: "{template}", date: 2026-01-15, amount: 1}}
        """
    )
    assert len(errors) == 1
    assert errors[0].startswith("14:30: $.projects.acme.milestones.kickoff.description: ")
    assert "template refused" in errors[0] and "unsafe" in errors[0]


@pytest.mark.parametrize("name", ["range", "lipsum", "cycler", "joiner", "namespace", "environ"])
def test_a_description_has_no_globals_to_call(plan_errors: PlanErrors, name: str) -> None:
    errors = plan_errors(
        f"""
        projects:
          acme:
            provider: ruddr
            project_id: 1
            milestones:
              kickoff: {{description: "{{{{ {name} }}}}", date: 2026-01-15, amount: 1}}
        """
    )
    assert errors == [
        f"13:30: $.projects.acme.milestones.kickoff.description: undefined in template: `{name}` "
        "is not defined; available: amount, charge, currency, date, period, project, quantity, "
        "rate, rounding, vars"
    ]


def test_a_template_can_give_escalate_by_while_the_charge_sets_its_from(
    expand_plan: ExpandPlan,
) -> None:
    items = expand_plan(
        """
        templates:
          escalating:
            every: month
            description: Retainer
            escalate: {by: 10%}
        projects:
          acme:
            provider: ruddr
            project_id: d077258e-2158-4f34-aabd-97e971d0c18d
            recurring:
              fee: {use: escalating, amount: 1000, start: 2026-01-01, end: 2026-03-31,
                    escalate: {from: 2026-03-01}}
        """
    )
    assert [str(item.amount) for item in items] == ["1000.00", "1000.00", "1100.00"]


def test_escalate_without_by_anywhere_is_an_error_naming_the_block(
    check_plan: CheckPlan,
) -> None:
    checked = check_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: d077258e-2158-4f34-aabd-97e971d0c18d
            recurring:
              fee: {description: Fee, every: month, amount: 1000, start: 2026-01-01, count: 2,
                    escalate: {every: year}}
        """
    )
    assert [d.message for d in checked.diagnostics] == ["`escalate` needs `by`, e.g. {by: 3%}"]
