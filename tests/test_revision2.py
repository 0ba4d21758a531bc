"""The contract's open readings, decided in Revision 2 of the plan language, one test each.

Each test is the worked example docs/language.md gives for the reading (section "Revision 2").
"""

from __future__ import annotations

from collections.abc import Callable

from compiler.model import Item

ExpandPlan = Callable[..., list[Item]]


def rows(items: list[Item]) -> list[tuple[str | None, str | None, str]]:
    return [(i.label, i.date.isoformat() if i.date else None, str(i.amount)) for i in items]


def test_escalation_without_from_rises_on_each_anniversary_of_start_never_drifting(
    expand_plan: ExpandPlan,
) -> None:
    # Increases are start + k months: 2026-02-28, 2026-03-31, 2026-04-30 (not 03-28, 04-28).
    # Weekly periods make the difference visible: the week of Monday 2026-03-30 starts after
    # 03-28 but before 03-31, so it is still on the first increase.
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              support:
                description: Support
                every: week
                start: 2026-01-31
                end: 2026-05-03
                prorate: none
                amount: 1000
                escalate: {by: 10%, every: month}
        """
    )
    amounts = {i.label: str(i.amount) for i in items}
    assert amounts["2026-W09"] == "1000.00"  # Monday 02-23: before the first rise
    assert amounts["2026-W10"] == "1100.00"  # Monday 03-02: after 02-28
    assert amounts["2026-W14"] == "1100.00"  # Monday 03-30: 03-31 has not come yet
    assert amounts["2026-W15"] == "1210.00"  # Monday 04-06: after 03-31
    assert amounts["2026-W18"] == "1210.00"  # Monday 04-27: 04-30 has not come yet


def test_a_single_stub_billed_in_arrears_is_dated_on_end(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              audit:
                description: Audit support
                every: month
                bill: in_arrears
                start: 2026-03-10
                end: 2026-03-20
                amount: 3100
        """
    )
    assert rows(items) == [("2026-03", "2026-03-20", "1100.00")]  # 11 of 31 days


def test_a_negative_split_ranks_remainders_by_magnitude(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            milestones:
              credit:
                description: Service credit
                split:
                  total: -1.00
                  parts:
                    first: {date: 2026-03-01, weight: 1}
                    second: {date: 2026-04-01, weight: 2}
        """
    )
    assert rows(items) == [("first", "2026-03-01", "-0.33"), ("second", "2026-04-01", "-0.67")]


def test_end_equal_to_start_is_a_one_day_service(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            recurring:
              onsite:
                description: On-site day
                every: month
                start: 2026-03-10
                end: 2026-03-10
                amount: 3100
        """
    )
    assert rows(items) == [("2026-03", "2026-03-10", "100.00")]  # 1 of 31 days
