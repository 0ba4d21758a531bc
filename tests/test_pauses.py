"""Pauses on repeating charges: `pauses: [{from: DATE, to: DATE}]`, both days included.

A period wholly inside a pause bills nothing; a period a pause cuts is billed for its other
days like a stub, under the charge's `prorate`, and dated on its first (in advance) or last
(in arrears) day billed. No other period's label, address, date or amount changes.
"""

from __future__ import annotations

from collections.abc import Callable

from compiler.model import Item

ExpandPlan = Callable[..., list[Item]]
PlanErrors = Callable[..., list[str]]


def rows(items: list[Item]) -> list[tuple[str | None, str | None, str]]:
    return [(i.label, i.date.isoformat() if i.date else None, str(i.amount)) for i in items]


def retainer(pauses: str, *, prorate: str = "daily", bill: str = "in_advance") -> str:
    return f"""
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              support:
                description: Support
                every: month
                start: 2026-01-01
                end: 2026-06-30
                amount: 3100
                bill: {bill}
                prorate: {prorate}
                pauses: {pauses}
        """


def test_a_month_inside_a_pause_bills_nothing_and_the_others_keep_their_labels(
    expand_plan: ExpandPlan,
) -> None:
    items = expand_plan(retainer("[{from: 2026-03-01, to: 2026-04-30}]"))
    assert rows(items) == [
        ("2026-01", "2026-01-01", "3100.00"),
        ("2026-02", "2026-02-01", "3100.00"),
        ("2026-05", "2026-05-01", "3100.00"),
        ("2026-06", "2026-06-01", "3100.00"),
    ]
    assert [i.address for i in items][-1] == "acme/recurring/support/2026-06"


def test_a_month_a_pause_cuts_bills_its_other_days_dated_on_the_first_day_billed(
    expand_plan: ExpandPlan,
) -> None:
    # Service resumes 2026-03-11: 21 of March's 31 days, 3100 x 21 / 31 = 2100.00.
    items = expand_plan(retainer("[{from: 2026-02-01, to: 2026-03-10}]"))
    assert rows(items)[1:3] == [
        ("2026-03", "2026-03-11", "2100.00"),
        ("2026-04", "2026-04-01", "3100.00"),
    ]


def test_in_arrears_a_month_paused_at_its_end_is_dated_on_its_last_day_billed(
    expand_plan: ExpandPlan,
) -> None:
    # Paused from 2026-03-22: 21 of 31 days billed, on 2026-03-21.
    items = expand_plan(retainer("[{from: 2026-03-22, to: 2026-04-30}]", bill="in_arrears"))
    assert rows(items)[2:4] == [
        ("2026-03", "2026-03-21", "2100.00"),
        ("2026-05", "2026-05-31", "3100.00"),
    ]


def test_a_pause_inside_a_month_keeps_its_date_and_bills_the_days_around_it(
    expand_plan: ExpandPlan,
) -> None:
    # 2026-03-11 to 2026-03-20 paused: 21 of 31 days, still billed on the 1st.
    items = expand_plan(retainer("[{from: 2026-03-11, to: 2026-03-20}]"))
    assert rows(items)[2] == ("2026-03", "2026-03-01", "2100.00")


def test_prorate_none_bills_a_cut_month_in_full(expand_plan: ExpandPlan) -> None:
    items = expand_plan(retainer("[{from: 2026-02-01, to: 2026-03-10}]", prorate="none"))
    assert rows(items)[1] == ("2026-03", "2026-03-11", "3100.00")


def test_prorate_skip_bills_nothing_for_a_cut_month(expand_plan: ExpandPlan) -> None:
    items = expand_plan(retainer("[{from: 2026-02-01, to: 2026-03-10}]", prorate="skip"))
    assert [i.label for i in items] == ["2026-01", "2026-04", "2026-05", "2026-06"]


def test_a_pause_on_a_stub_bills_the_days_left_over_the_whole_month(
    expand_plan: ExpandPlan,
) -> None:
    # Starts 2026-01-16 (a 16-day stub), paused 01-16..01-21: 10 of 31 days, from 01-22.
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
                end: 2026-02-28
                amount: 3100
                pauses: [{from: 2026-01-16, to: 2026-01-21}]
        """
    )
    assert rows(items) == [
        ("2026-01", "2026-01-22", "1000.00"),
        ("2026-02", "2026-02-01", "3100.00"),
    ]


def test_a_pause_does_not_extend_a_counted_charge(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        retainer("[{from: 2026-02-01, to: 2026-02-28}]").replace("end: 2026-06-30", "count: 3")
    )
    assert [i.label for i in items] == ["2026-01", "2026-03"]


def test_a_repeating_product_skips_paused_periods_and_bills_cut_ones_in_full(
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
                description: Seats
                quantity: 10
                rate: 15
                every: month
                start: 2026-01-01
                count: 4
                pauses: [{from: 2026-02-01, to: 2026-03-15}]
        """
    )
    assert rows(items) == [
        ("2026-01", "2026-01-01", "150.00"),
        ("2026-03", "2026-03-16", "150.00"),
        ("2026-04", "2026-04-01", "150.00"),
    ]


def test_a_pause_ending_before_it_starts_is_an_error_at_its_to(plan_errors: PlanErrors) -> None:
    errors = plan_errors(retainer("[{from: 2026-03-10, to: 2026-03-01}]"))
    assert len(errors) == 1
    assert (
        "$.projects.acme.recurring.support.pauses[0].to: this pause ends on 2026-03-01, "
        in (errors[0])
    )
    assert "`to` is the last paused day, on or after `from`" in errors[0]


def test_overlapping_pauses_are_an_error_naming_the_other_pause(plan_errors: PlanErrors) -> None:
    errors = plan_errors(
        retainer("[{from: 2026-02-01, to: 2026-03-10}, {from: 2026-03-01, to: 2026-03-31}]")
    )
    assert [e.split(": ", 1)[1] for e in errors] == [
        "$.projects.acme.recurring.support.pauses[1]: this pause (2026-03-01 to 2026-03-31) "
        "overlaps pauses[0] (2026-02-01 to 2026-03-10); merge them into one pause"
    ]


def test_a_pause_before_the_charge_starts_is_an_error(plan_errors: PlanErrors) -> None:
    errors = plan_errors(retainer("[{from: 2025-03-01, to: 2025-03-31}]"))
    assert [e.split(": ", 1)[1] for e in errors] == [
        "$.projects.acme.recurring.support.pauses[0]: this pause (2025-03-01 to 2025-03-31) "
        "ends before the charge starts on 2026-01-01; correct its dates or remove it"
    ]


def test_a_pause_after_the_charge_ends_is_an_error(plan_errors: PlanErrors) -> None:
    errors = plan_errors(retainer("[{from: 2027-03-01, to: 2027-03-31}]"))
    assert [e.split(": ", 1)[1] for e in errors] == [
        "$.projects.acme.recurring.support.pauses[0]: this pause (2027-03-01 to 2027-03-31) "
        "starts after the charge's last day of service, 2026-06-30; correct its dates or "
        "remove it"
    ]


def test_a_one_off_product_cannot_pause(plan_errors: PlanErrors) -> None:
    errors = plan_errors(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            products:
              kit:
                description: Kit
                quantity: 1
                rate: 100
                date: 2026-02-01
                pauses: [{from: 2026-02-01, to: 2026-02-02}]
        """
    )
    assert [e.split(": ", 1)[1] for e in errors] == [
        "$.projects.acme.products.kit.pauses: `pauses` only applies to a repeating product "
        "(`every`)"
    ]


def test_the_schema_refuses_a_pause_without_to(plan_errors: PlanErrors) -> None:
    errors = plan_errors(retainer("[{from: 2026-03-01}]"))
    assert [e.split(": ", 1)[1] for e in errors] == [
        "$.projects.acme.recurring.support.pauses[0]: `to` is required here but missing; add it"
    ]
