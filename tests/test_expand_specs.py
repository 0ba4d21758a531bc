"""The seam inside expansion: typed, located specs in, dated and priced occurrences out.

parse.py reads the YAML into specs; the per-kind functions compute from a spec alone, so a
spec written by hand (no plan, no YAML) bills exactly what the same charge written in a plan
bills. The fast schema check is its own engine, which says when it cannot decide.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from compiler.diagnostics import Mark
from compiler.expand import milestone, recurring
from compiler.expand.spec import (
    AmountStep,
    Charge,
    Description,
    ProjectSpec,
    RecurringSpec,
    Room,
    Settings,
    SplitPart,
    SplitSpec,
    Stop,
    Term,
    When,
)
from compiler.model import SECTION, Kind
from compiler.schedule import Every
from compiler.schema_compiler import compile_schema

D = date.fromisoformat
SETTINGS = Settings(
    currency="USD",
    rounding="half_up",
    holidays=frozenset(),
    horizon=None,
    horizon_path=None,
    options={},
)
PROJECT = ProjectSpec(
    key="acme",
    path=("projects", "acme"),
    provider="ruddr",
    vendor="ruddr",
    project_id=1,
    name="Acme",
    contract_value=None,
    settings=SETTINGS,
)
ROOM = Room(left=1_000, most=1_000)


def charge(kind: Kind, key: str) -> Charge:
    path = ("projects", "acme", SECTION[kind], key)
    return Charge(
        project=PROJECT,
        kind=kind,
        key=key,
        address=f"acme/{SECTION[kind]}/{key}",
        path=path,
        settings=SETTINGS,
        currency="USD",
        description=Description("Retainer", (*path, "description")),
        options={},
        option_marks={},
        mark=Mark("plan.yaml", 1, 1),
    )


def monthly(start: str, count: int, amount: str) -> RecurringSpec:
    path = ("projects", "acme", "recurring", "retainer")
    return RecurringSpec(
        charge=charge("recurring", "retainer"),
        term=Term(
            every=Every("month"),
            align="calendar",
            start=D(start),
            end=None,
            count=count,
            until=None,
            periods_path=(*path, "count"),
            bill="in_advance",
            day=None,
            day_path=(*path, "day"),
        ),
        steps=(AmountStep(D(start), Decimal(amount)),),
        escalation=None,
        prorate="daily",
        growth_path=path,
    )


def test_a_recurring_spec_bills_its_january_stub_by_the_day_without_any_plan() -> None:
    # 3100.00 a month from 16 January: 16 of January's 31 days bill 1600.00.
    billed = [
        (o.label, o.date, o.amount)
        for o in recurring.occurrences(monthly("2026-01-16", 2, "3100.00"), ROOM)
    ]
    assert billed == [
        ("2026-01", D("2026-01-16"), Decimal("1600.00")),
        ("2026-02", D("2026-02-01"), Decimal("3100.00")),
    ]


def test_a_term_past_the_plans_room_stops_the_expansion_where_its_count_is_written() -> None:
    with pytest.raises(Stop) as stopped:
        list(recurring.occurrences(monthly("2026-01-01", 5, "100.00"), Room(left=3, most=10)))
    assert stopped.value.path == ("projects", "acme", "recurring", "retainer", "count")
    assert "more than 10 billing items with this charge's periods" in stopped.value.message


def test_a_split_spec_allocates_its_total_to_the_cent_over_its_parts() -> None:
    path = ("projects", "acme", "milestones", "fees")
    thirds = [
        SplitPart(key, Fraction(1, 3), When(D("2026-03-01"), None), Description(key, path))
        for key in ("design", "build", "launch")
    ]
    spec = SplitSpec(charge("milestone", "fees"), Decimal("100.00"), tuple(thirds))
    assert [(o.label, o.amount) for o in milestone.split_occurrences(spec)] == [
        ("design", Decimal("33.34")),
        ("build", Decimal("33.33")),
        ("launch", Decimal("33.33")),
    ]


def test_the_fast_schema_check_declines_a_keyword_it_does_not_compile() -> None:
    # None sends the plan to jsonschema, whose verdict and messages are the ones reported.
    assert compile_schema({"type": "object", "dependentRequired": {"a": ["b"]}}) is None
    check = compile_schema({"type": "object", "required": ["a"]})
    assert check is not None and check({"a": 1}) and not check({})
