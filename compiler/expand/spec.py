"""The plan's charges as typed, located values, between parsing and computing.

parse.py reads the YAML into these (checking what the schema cannot say); recurring.py,
milestone.py and product.py compute Occurrences from them without reading the YAML again.
Each value keeps the paths its parts were written at, so a problem found while computing
(a period past 9999, an escalation that grew too large) is still reported where it was written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from functools import cached_property
from typing import Any

from dateutil.relativedelta import relativedelta

from compiler.diagnostics import Mark
from compiler.limits import RAISE_ITEMS
from compiler.load import PathKey
from compiler.model import Kind
from compiler.money import Rounding
from compiler.schedule import Align, Bill, DayRule, Every, Offset, Period, count_increases


class Invalid(Exception):
    """One meaning error inside a charge; stops that charge, not the plan."""

    def __init__(self, path: PathKey, message: str) -> None:
        self.path = path
        self.message = message


class Stop(Invalid):
    """A limit of the whole plan was reached at this place: stops the expansion."""


def _uncounted(periods: int) -> None:
    return None


@dataclass(frozen=True)
class Room:
    """How many more items the plan may expand to, and the most it may have in all."""

    left: int
    most: int
    # Told how many periods a repeating charge has once they are all found: a plan expanded
    # in parts checks with it that no part would have reached the limit had the parts been
    # expanded one after another (compiler/expand/parallel.py).
    counted: Callable[[int], None] = _uncounted

    def exceeded(self, path: PathKey, how: str) -> Stop:
        return Stop(
            path,
            f"the plan expands to more than {self.most:,} billing items{how}, the most "
            f"a plan may have; {RAISE_ITEMS}",
        )


@dataclass(frozen=True)
class Settings:
    """Settings resolved for one charge: defaults, then project, then charge (nearer wins)."""

    currency: str | None
    rounding: Rounding
    holidays: frozenset[date]
    horizon: relativedelta | None
    horizon_path: PathKey | None  # where the horizon in force was written
    options: Mapping[str, Mapping[str, Any]]  # vendor type -> merged option block
    # vendor type -> option key -> where the winning value was written (for provider errors)
    option_paths: Mapping[str, Mapping[str, PathKey]] = field(default_factory=dict)
    # How an invoiced item the plan changes is corrected (compiler.adjust); None: not at all.
    adjust: str | None = None


@dataclass(frozen=True)
class ProjectSpec:
    """A project's header: its connection, vendor, contract value and settings."""

    key: str
    path: PathKey
    provider: str  # the plan's name for the connection
    vendor: str  # the connection's type: ruddr, kantata, ...
    project_id: str | int
    name: str
    contract_value: Decimal | None
    settings: Settings

    @cached_property
    def context(self) -> dict[str, Any]:
        """`project` in descriptions (shared by the project's items; templates cannot write)."""
        return {"key": self.key, "name": self.name, "project_id": self.project_id}


@dataclass(frozen=True)
class Description:
    """A description as written (a template when it holds `{`), and where."""

    text: str | None
    path: PathKey


@dataclass(frozen=True)
class Charge:
    """What every charge has, whatever its kind: where it is, its settings and options."""

    project: ProjectSpec
    kind: Kind
    key: str
    address: str  # PROJECT/SECTION/CHARGE, the prefix of its items' addresses
    path: PathKey
    settings: Settings
    currency: str
    description: Description
    # The project's vendor's options merged for this charge, and where each was written:
    # one mapping per charge, shared (read-only) by its items.
    options: Mapping[str, Any]
    option_marks: Mapping[str, Mark]
    mark: Mark  # where the charge is written


@dataclass(frozen=True, slots=True)
class Pause:
    """Days a repeating charge bills nothing for, `start` to `end` inclusive."""

    start: date
    end: date
    path: PathKey  # where the pause was written, for a pause that misses the charge


@dataclass(frozen=True)
class Term:
    """When a repeating charge bills: its periods and the day each is billed on."""

    every: Every
    align: Align
    start: date
    end: date | None
    count: int | None
    until: date | None  # as of + horizon, for an open-ended charge
    periods_path: PathKey  # what decides how many periods there are: count, end or horizon
    bill: Bill
    day: DayRule | None
    day_path: PathKey  # where `day` was written (the charge when it has none)
    pauses: tuple[Pause, ...] = ()  # in date order, none overlapping


@dataclass(frozen=True)
class AmountStep:
    """The price in force from a day on."""

    start: date
    amount: Decimal


@dataclass(frozen=True)
class Escalation:
    """A price rising by a factor on anchor + k x every, each computed from the anchor.

    With `from`, the anchor is that date and it is itself the first increase (k = 0, 1, ...);
    without, the anchor is the charge's start and the increases are its anniversaries
    (k = 1, 2, ...), so a start on the 31st rises on the 28th, 31st, 30th, never drifting.
    """

    factor: Fraction
    every: Every
    anchor: date
    anchor_rises: bool  # whether the anchor itself is an increase date (it is for `from`)
    path: PathKey  # where to say it escalates too often

    def increases(self, day: date) -> int:
        """How many increase dates fall on or before day."""
        n = count_increases(self.anchor, self.every, day)
        return n if self.anchor_rises else max(0, n - 1)


@dataclass(frozen=True)
class RecurringSpec:
    """A price billed every period of a term, in steps, escalated, stubs prorated."""

    charge: Charge
    term: Term
    steps: tuple[AmountStep, ...]
    escalation: Escalation | None
    prorate: str  # daily | none | skip: how a stub period is priced
    growth_path: PathKey  # where an amount grown past what billplan bills was decided


@dataclass(frozen=True)
class After:
    """A date written relative to another milestone of the project: `{after: KEY, plus: ...}`.

    KEY is a milestone's key, or CHARGE/PART for a split part. Expansion resolves it once the
    project's other milestones are read (compiler/expand/relative.py).
    """

    key: str
    plus: Offset
    key_path: PathKey  # where `after` was written: unknown keys and cycles are reported here
    plus_path: PathKey  # where `plus` was written: a date past 9999-12-31 is reported here


@dataclass(frozen=True)
class When:
    """When a milestone bills: on a date, when a task completes, or after another milestone
    (date None until expansion resolves `after`)."""

    date: date | None
    task: str | int | None
    after: After | None = None


@dataclass(frozen=True)
class MilestoneSpec:
    """A one-off milestone: a written amount, quantity x rate, or a percent of the contract."""

    charge: Charge
    amount: Decimal
    when: When
    quantity: Decimal | None = None
    rate: Decimal | None = None
    percent: Decimal | None = None  # as written, for percent-of-contract milestones


@dataclass(frozen=True)
class SplitPart:
    """One dated part of a split milestone, with its fraction of the total."""

    key: str
    fraction: Fraction  # of the split's total; the parts' sum to exactly 1
    when: When
    description: Description


@dataclass(frozen=True)
class SplitSpec:
    """A milestone whose total is allocated over parts by share or weight."""

    charge: Charge
    total: Decimal
    parts: tuple[SplitPart, ...]


@dataclass(frozen=True)
class ProductSpec:
    """Quantity x rate, once on a date or every period of a term."""

    charge: Charge
    quantity: Decimal
    rate: Decimal
    amount: Decimal  # quantity x rate, rounded to the currency
    date: date | None
    term: Term | None


ChargeSpec = RecurringSpec | MilestoneSpec | SplitSpec | ProductSpec


# Not frozen: one is built for every item of a plan of up to 100,000, and a frozen
# dataclass's __init__ costs three times as much (Item, which crosses stages, is frozen).
@dataclass(slots=True)
class Occurrence:
    """One billing of a charge, dated and priced; described into an Item afterwards."""

    label: str | None  # period label or split part key; None for a one-off
    date: date | None
    period: Period | None
    amount: Decimal
    quantity: Decimal | None = None
    rate: Decimal | None = None
    task: str | int | None = None
    percent: Decimal | None = None
    description: Description | None = None  # the charge's when not its own
