"""Price changes within one charge: runs (compiler.onboard.runs) that carry on one another
at a new price joined as the plan's `amounts` steps, and steps that one percentage prices at
a regular interval (a year, or the months between the steps) written as `escalate`. A run
carries on another across a period or two billed by lines of their own (months edited by
hand), paused, as a run does within one price. Each joined run is expanded again with the
plan's own pricing (runs.reproduces) before it is kept, as every run is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal
from fractions import Fraction

from compiler import schedule
from compiler.onboard.runs import (
    MAX_PAUSED,
    ONE_DAY,
    STUB_ONLY,
    Pool,
    Run,
    odd_ones,
    outnumbers_pauses,
    reproduces,
)
from compiler.schedule import MAX_EVERY, Every, Period, ScheduleError

_YEAR = Every("year")
# How an interval of months is written as `every` (others are `N months`).
_EVERY_WORDS = {1: "month", 3: "quarter", 12: "year"}
# Escalations are what a contract says: whole, tenth or hundredth percentages.
_PERCENT_PLACES = (0, 1, 2)


def joined(runs: Sequence[Run], pool: Pool) -> list[Run]:
    """The runs, each that carries on the one before it at a new price joined to it as a
    step (the plan's `amounts`), then written as an escalation where one prices every step
    exactly. A join that does not reproduce its items is not made. `pool` holds the lines
    the runs were found among: those of the periods a join may pause."""
    out: list[Run] = []
    for run in sorted(runs, key=lambda r: (r.start, r.end)):
        gaps = ((n, _gap(before, run, pool)) for n, before in enumerate(out))
        at, gap = next(((n, gap) for n, gap in gaps if gap is not None), (None, None))
        merged = None if at is None or gap is None else _join(out[at], run, gap)
        if at is not None and merged is not None:
            out[at] = merged
        else:
            out.append(run)
    return [_escalated(run) for run in out]


def _gap(before: Run, run: Run, pool: Pool) -> list[Period] | None:
    """The whole periods between `before` and `run` (none, or up to MAX_PAUSED each billed
    by a line of its own), when `run` carries on `before`; else None."""
    if not _follows(before, run):
        return None
    if before.end + ONE_DAY == run.start:
        return []
    if run.start < before.end:
        return None
    try:
        between = schedule.periods(
            run.shape.every, "calendar", before.end + ONE_DAY, end=run.start - ONE_DAY
        )
    except (ScheduleError, ValueError):
        return None
    if len(between) > MAX_PAUSED or any(period.is_stub for period in between):
        return None
    return between if odd_ones(before, between, pool) else None


def _follows(before: Run, run: Run) -> bool:
    """Whether `run` starts after `before` ends, cut, dated and described alike, with no stub
    between them."""
    return (
        before.shape == run.shape
        and not before.items[-1][0].is_stub
        and not run.items[0][0].is_stub
        and _bare(before.template) == _bare(run.template)
        and before.escalation is None
        and run.escalation is None
        and not run.steps
        and (not (before.stubbed and run.stubbed) or _pricing(before) == _pricing(run))
    )


def _bare(template: str) -> str:
    """A template without the ending it writes for stubs only."""
    return template.split(STUB_ONLY, 1)[0]


def _pricing(run: Run) -> tuple[str, str]:
    return run.prorate, run.rounding


def _join(before: Run, run: Run, gap: Sequence[Period]) -> Run | None:
    stubbed = before if before.stubbed else run
    template = before.template if STUB_ONLY in before.template else run.template
    steps = list(before.steps)
    # A new price in force from the first period paused: a rise in January, January edited.
    rise = gap[0].start if gap else run.start
    if run.amount != (steps[-1][1] if steps else before.amount):
        steps.append((rise, run.amount))
    pause = ((gap[0].start, gap[-1].end),) if gap else ()
    merged = Run(
        before.shape,
        template,
        before.amount,
        before.start,
        run.end,
        [*before.items, *run.items],
        prorate=stubbed.prorate,
        rounding=stubbed.rounding,
        stubbed=before.stubbed or run.stubbed,
        steps=steps,
        holidays=before.holidays | run.holidays,
        pauses=(*before.pauses, *pause, *run.pauses),
    )
    return merged if outnumbers_pauses(merged) and reproduces(merged) else None


def _escalated(run: Run) -> Run:
    """The stepped run as one price escalated by a percentage at each step, where the steps
    come at one interval (a lone step: a year) from one interval in and that bills every
    item exactly; otherwise the run as it is."""
    if not run.steps or run.amount == 0:
        return run
    first = run.steps[0][0]
    every = _interval([day for day, _ in run.steps])
    if every is None:
        return run
    # A rise comes one interval into the service at the earliest (Meridian's starts 16
    # January and rises each January); an earlier new price is a step, as written.
    if first < every.add(run.start.replace(day=1), 1):
        return run
    ratio = (Fraction(run.steps[0][1]) / Fraction(run.amount) - 1) * 100
    for places in _PERCENT_PLACES:
        by = round(Decimal(ratio.numerator) / Decimal(ratio.denominator), places)
        # A fall is an escalation too (`by: -5%`); no change and no price at all are not.
        if by == 0 or by <= -100:
            continue
        factor = 1 + Fraction(by) / 100
        trial = replace(run, steps=[], escalation=(factor, every, first))
        if reproduces(trial):
            return trial
    return run


def _interval(days: Sequence[date]) -> Every | None:
    """The one interval the steps' days are apart, counted from the first (a year for one
    step: a contract's yearly rise); None when they are not evenly apart in months."""
    if len(days) == 1:
        return _YEAR
    first, second = days[0], days[1]
    months = (second.year - first.year) * 12 + second.month - first.month
    if months < 1 or months > MAX_EVERY:
        return None
    every = Every("quarter") if months == 3 else Every("year") if months == 12 else None
    every = every or Every("month", months)
    if any(day != every.add(first, k) for k, day in enumerate(days)):
        return None
    return every


def every_text(every: Every) -> str:
    """`every` as a plan writes it: month, quarter, year or N months."""
    months = {"month": 1, "quarter": 3, "year": 12}[every.unit] * every.n
    return _EVERY_WORDS.get(months, f"{months} months")


def percent(factor: Fraction) -> str:
    """The percentage an escalation's factor adds, as a plan writes it (`4%` for 1.04)."""
    value = (factor - 1) * 100
    return f"{(Decimal(value.numerator) / Decimal(value.denominator)).normalize():f}%"
