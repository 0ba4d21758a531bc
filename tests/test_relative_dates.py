"""Relative milestone dates: `date: {after: KEY, plus: 30 days | 20 business days | 1 month}`.

KEY is another milestone of the same project, or CHARGE/PART for a split part. Moving one
milestone moves every milestone dated after it, and the plan shows each move as an update
of its date. An invoiced milestone stays as the vendor has it; the ones after it follow the
plan's date for it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from support import HEAD, MILESTONE, PROJECT_ID, plan_sandbox, remote_ids, step, write_plan

from compiler.model import Item

ExpandPlan = Callable[..., list[Item]]
PlanErrors = Callable[..., list[str]]


def dates(items: list[Item]) -> dict[str, str | None]:
    return {i.address.split("/", 2)[2]: i.date.isoformat() if i.date else None for i in items}


PROJECT = """
        projects:
          acme:
            provider: ruddr
            project_id: 1
            holidays: [2026-04-03]
            milestones:
        """


def milestones(lines: str) -> str:
    return PROJECT + "".join(f"              {line}\n" for line in lines.strip().splitlines())


def test_a_milestone_dated_days_after_another(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        milestones("""
        design: {description: Design, date: 2026-03-06, amount: 100}
        build: {description: Build, date: {after: design, plus: 30 days}, amount: 100}
        """)
    )
    assert dates(items) == {"design": "2026-03-06", "build": "2026-04-05"}


def test_business_days_skip_weekends_and_the_plans_holidays(expand_plan: ExpandPlan) -> None:
    # From Friday 2026-03-06, 20 business days is Friday 04-03, a holiday here: Monday 04-06.
    items = expand_plan(
        milestones("""
        design: {description: Design, date: 2026-03-06, amount: 100}
        build: {description: Build, date: {after: design, plus: 20 business days}, amount: 100}
        """)
    )
    assert dates(items)["build"] == "2026-04-06"


def test_months_clamp_to_the_end_of_the_month(expand_plan: ExpandPlan) -> None:
    items = expand_plan(
        milestones("""
        design: {description: Design, date: 2026-01-31, amount: 100}
        build: {description: Build, date: {after: design, plus: 1 month}, amount: 100}
        """)
    )
    assert dates(items)["build"] == "2026-02-28"


def test_split_parts_are_named_charge_slash_part_and_may_follow_each_other(
    expand_plan: ExpandPlan,
) -> None:
    items = expand_plan(
        milestones("""
        signoff: {description: Sign-off, date: {after: delivery/build, plus: 2 weeks}, amount: 1}
        delivery:
          description: Delivery
          split:
            total: 300
            parts:
              design: {date: 2026-03-02, weight: 1}
              build: {date: {after: delivery/design, plus: 1 month}, weight: 1}
              launch: {date: {after: signoff, plus: 0 days}, weight: 1}
        """)
    )
    assert dates(items) == {
        "delivery/design": "2026-03-02",
        "delivery/build": "2026-04-02",
        "signoff": "2026-04-16",
        "delivery/launch": "2026-04-16",
    }


def test_a_key_naming_no_milestone_is_an_error_listing_the_keys(plan_errors: PlanErrors) -> None:
    errors = plan_errors(
        milestones("""
        design: {description: Design, date: 2026-03-06, amount: 100}
        build: {description: Build, date: {after: desing, plus: 30 days}, amount: 100}
        """)
    )
    assert [e.split(": ", 1)[1] for e in errors] == [
        "$.projects.acme.milestones.build.date.after: `after: desing` names no milestone of "
        "project 'acme'; name one of: design, build (a split part is CHARGE/PART)"
    ]


def test_a_cycle_is_an_error_naming_the_cycle(plan_errors: PlanErrors) -> None:
    errors = plan_errors(
        milestones("""
        design: {description: Design, date: {after: test, plus: 1 day}, amount: 100}
        build: {description: Build, date: {after: design, plus: 1 day}, amount: 100}
        test: {description: Test, date: {after: build, plus: 1 day}, amount: 100}
        """)
    )
    assert [e.split(": ", 1)[1] for e in errors] == [
        "$.projects.acme.milestones.design.date.after: these milestone dates wait on each "
        "other in a cycle: design -> test -> build -> design; give one of them a calendar date"
    ]


def test_a_whole_split_or_an_on_completion_milestone_has_no_date_to_follow(
    plan_errors: PlanErrors,
) -> None:
    errors = plan_errors(
        """
        projects:
          acme:
            provider: kantata
            project_id: 1
            milestones:
              go-live: {description: Go-live, on_completion: {task: 7}, amount: 100}
              review: {description: Review, date: {after: go-live, plus: 1 day}, amount: 1}
              bonus: {description: Bonus, date: {after: delivery, plus: 1 day}, amount: 1}
              delivery:
                description: Delivery
                split: {total: 2, parts: {a: {date: 2026-03-02, weight: 1}}}
        """
    )
    assert [e.split(": ", 1)[1] for e in errors] == [
        "$.projects.acme.milestones.review.date.after: `after: go-live` names a milestone billed "
        "when a task completes, which has no date; name a dated milestone or write a calendar "
        "date",
        "$.projects.acme.milestones.bonus.date.after: `after: delivery` names a split "
        "milestone, which has a date per part; name one of its parts: delivery/a",
    ]


def test_a_bad_plus_is_a_schema_error_saying_the_forms(plan_errors: PlanErrors) -> None:
    errors = plan_errors(
        milestones("""
        design: {description: Design, date: 2026-03-06, amount: 100}
        build: {description: Build, date: {after: design, plus: 2 month}, amount: 100}
        """)
    )
    assert [e.split(": ", 1)[1] for e in errors] == [
        "$.projects.acme.milestones.build.date.plus: expected a delay such as 30 days, "
        "20 business days, 2 weeks or 1 month, got '2 month'"
    ]


# --- end to end: the plan shows each move, an invoiced milestone keeps its date --------------

CHAIN = f"""\
projects:
  cloud-infra:
    provider: ruddr
    project_id: {PROJECT_ID}
    milestones:
      design: {{description: Design, date: 2026-03-02, amount: 1000}}
      build: {{description: Build, date: {{after: design, plus: 1 month}}, amount: 2000}}
      launch: {{description: Launch, date: {{after: build, plus: 10 business days}}, amount: 3000}}
"""
DESIGN, BUILD, LAUNCH = (f"cloud-infra/milestones/{key}" for key in ("design", "build", "launch"))


def test_moving_one_milestone_updates_the_date_of_every_milestone_after_it(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "billing", CHAIN, HEAD)
    assert step(directory, apply=True).applied.ok  # type: ignore[union-attr]
    write_plan(directory, CHAIN.replace("2026-03-02", "2026-03-16"), HEAD)

    moved = step(directory, apply=True)

    assert {a: moved.why(a) for a in (DESIGN, BUILD, LAUNCH)} == {
        DESIGN: ("update", "changed"),
        BUILD: ("update", "changed"),
        LAUNCH: ("update", "changed"),
    }
    assert [(f.field, f.after) for f in moved.change(LAUNCH).fields] == [("date", "2026-04-30")]
    assert {c.action for c in step(directory).plan.changes} == {"no-op"}  # converged


def test_after_an_invoiced_milestone_the_others_move_from_the_plans_date_for_it(
    tmp_path: Path,
) -> None:
    directory = write_plan(tmp_path / "billing", CHAIN, HEAD)
    assert step(directory, apply=True).applied.ok  # type: ignore[union-attr]
    with plan_sandbox(directory) as admin:
        admin.invoice(MILESTONE, remote_ids(directory)[DESIGN])
    write_plan(directory, CHAIN.replace("2026-03-02", "2026-03-16"), HEAD)

    moved = step(directory, apply=True)

    assert moved.why(DESIGN) == ("no-op", "locked")  # invoiced on 03-02 at the vendor
    assert [(f.field, f.after) for f in moved.change(BUILD).fields] == [("date", "2026-04-16")]
