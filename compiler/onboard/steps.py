"""Price steps and escalations: adjacent runs of one charge whose price changes.

Runs (compiler.onboard.runs) have one price each. Runs with the same periods, dates and
description that follow each other without a gap are one charge whose price steps
(`amounts`), or rises by one percentage at regular intervals (`escalate`) when that bills every
item exactly. Each joined charge is expanded again and compared item by item, as a run is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from itertools import pairwise

from compiler import schedule
from compiler.money import Rounding, round_money
from compiler.onboard import wording
from compiler.onboard.found import Found
from compiler.onboard.runs import Run, dated
from compiler.schedule import Every, Period, ScheduleError

# An escalation is written in whole percents, or with one or two decimals (2.5%, 3.25%).
_PERCENT_DECIMALS = (0, 1, 2)
# `escalate` reads better than a list of steps from the second increase on.
MIN_ESCALATIONS = 2


@dataclass(frozen=True)
class Escalation:
    by: Decimal  # percent, as written
    every: Every
    first: date  # the first increase
    written_from: bool  # whether `from` must be written (not the start's anniversary)


@dataclass
class Chain:
    """Runs billed as one charge, in order; one price per run."""

    runs: list[Run]
    escalation: Escalation | None = None

    @property
    def first(self) -> Run:
        return self.runs[0]

    @property
    def items(self) -> list[tuple[Period, Found]]:
        return [pair for run in self.runs for pair in run.items]

    @property
    def steps(self) -> list[tuple[date, Decimal]]:
        """Each price and the day it is in force from (the first: the charge's start)."""
        first = [(self.runs[0].start, self.runs[0].amount)]
        return first + [(run.items[0][0].full_start, run.amount) for run in self.runs[1:]]

    @property
    def prorate(self) -> str:
        return self._stubbed().prorate

    @property
    def rounding(self) -> Rounding:
        return self._stubbed().rounding

    @property
    def stubbed(self) -> bool:
        return any(run.stubbed for run in self.runs)

    def _stubbed(self) -> Run:
        return next((run for run in self.runs if run.stubbed), self.runs[0])


def chains(runs: Iterable[Run]) -> list[Chain]:
    """The runs joined where they follow each other and the joined charge bills them all."""
    out: list[Chain] = []
    for run in sorted(runs, key=lambda r: (_kind(r), r.start)):
        last = out[-1] if out else None
        if last is not None and _follows(last.runs[-1], run):
            joined = Chain([*last.runs, run])
            if bills(joined):
                out[-1] = joined
                continue
        out.append(Chain([run]))
    for chain in out:
        if len(chain.runs) > MIN_ESCALATIONS:
            chain.escalation = _escalation(chain)
    return sorted(out, key=lambda c: c.first.start)


def _kind(run: Run) -> tuple[str, str, str, str]:
    shape = run.shape
    return (str(shape.every), shape.bill, str(shape.day), run.template)


def _follows(before: Run, after: Run) -> bool:
    return (
        _kind(before) == _kind(after)
        and not before.items[-1][0].is_stub
        and not after.items[0][0].is_stub
        and after.start == before.end + timedelta(days=1)
    )


def _escalation(chain: Chain) -> Escalation | None:
    """One percentage rise at every step, when it bills each step's price exactly."""
    steps = chain.steps
    base, second = steps[0][1], steps[1][1]
    bounds = [day for day, _ in steps[1:]]
    months = {_months_between(a, b) for a, b in pairwise(bounds)}
    if base == 0 or len(months) != 1:
        return None
    every = Every("month", months.pop())
    ratio = (Fraction(second) / Fraction(base) - 1) * 100
    start = chain.first.start
    for places in _PERCENT_DECIMALS:
        by = Decimal(ratio.numerator) / Decimal(ratio.denominator)
        by = by.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
        if by <= -100:
            continue
        written_from = every.add(start, 1) != bounds[0]
        trial = Chain(chain.runs, Escalation(by, every, bounds[0], written_from))
        if bills(trial):
            return trial.escalation
    return None


def _months_between(a: date, b: date) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


def bills(chain: Chain) -> bool:
    """Whether the joined charge, expanded as a plan would, bills exactly its items."""
    first, items = chain.first, chain.items
    try:
        periods = schedule.periods(
            first.shape.every, "calendar", first.start, end=chain.runs[-1].end
        )
    except (ScheduleError, ValueError):
        return False
    if len(periods) != len(items):
        return False
    currency = items[0][1].currency
    steps = chain.steps
    for period, (_, item) in zip(periods, items, strict=True):
        price = Fraction(next(amount for day, amount in reversed(steps) if day <= period.start))
        if chain.escalation is not None:
            price = Fraction(steps[0][1]) * _factor(chain.escalation, period.start)
        if period.is_stub and chain.prorate == "daily":
            price = price * period.days / period.full_days
        amount = round_money(price, currency, chain.rounding)
        if (
            amount != item.amount
            or dated(first.shape, period) != item.date
            or not wording.describes(first.template, period, item.description)
        ):
            return False
    return True


def _factor(escalation: Escalation, day: date) -> Fraction:
    n = schedule.count_increases(escalation.first, escalation.every, day)
    return (1 + Fraction(escalation.by) / 100) ** n
