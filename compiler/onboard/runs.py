"""Runs: items billed on consecutive calendar months, quarters or years, found exactly.

A run is what one recurring charge (or repeating product) bills: one item per period, each
dated by the same `bill` and `day` rule, priced the same, described by one template; for a
recurring charge, optionally a prorated stub before and after. A period whose line someone
edited by hand (another description or amount, on the day the run bills) is paused, whole,
and its line left to be a charge of its own: the odd one out of one charge, never the end of
it. Every run is checked by expanding it again with compiler.schedule and compiler.money, the
functions a plan's own expansion uses: a run that does not reproduce its items exactly is not
returned.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from compiler import schedule
from compiler.money import Rounding, round_money
from compiler.onboard import wording
from compiler.onboard.found import Found
from compiler.schedule import Bill, DayRule, Every, Period, ScheduleError

EVERIES = (Every("month"), Every("quarter"), Every("year"))
BILLS: tuple[Bill, ...] = ("in_advance", "in_arrears")
_MONTHS = {"month": 1, "quarter": 3, "year": 12}
ONE_DAY = timedelta(days=1)
# Day rules in the order a person would reach for them; the first that fits a run wins.
_NAMED_DAYS: tuple[DayRule, ...] = ("last", "first_business_day", "last_business_day")
_PRORATES = ("daily", "none")
# Stubs are looked for around two full periods or more: one period and a stub is two readings
# of the same items, and the search is the costly part.
STUBBED_LEAST = 2
STUB_ONLY = "{% if period.is_stub %}"
_BUSINESS_DAYS = ("first_business_day", "last_business_day")
# Weekdays in a row a business-day rule may pass over as holidays: bank holidays come one,
# two (Easter, Christmas) or three at a time; an item further off is another item.
_MOST_HOLIDAYS = 3
_ROUNDINGS: tuple[Rounding, ...] = ("half_up", "half_even")
# Periods in a row a run may pause over a line of their own (a month edited by hand, or two):
# more is a charge that ended and another that began.
MAX_PAUSED = 2


@dataclass(frozen=True)
class Shape:
    """How a run's periods are cut and dated: calendar periods of `every`, billed by `bill`,
    moved to `day`."""

    every: Every
    bill: Bill
    day: DayRule | None


@dataclass
class Run:
    """Items a single charge reproduces, in period order, and the terms that do it."""

    shape: Shape
    template: str
    amount: Decimal  # per full period
    start: date  # first day of service
    end: date  # last day of service
    items: list[tuple[Period, Found]]
    prorate: str = "daily"  # how a stub is priced (daily is the plan's default)
    rounding: Rounding = "half_up"
    stubbed: bool = False
    # Later prices, each from a period's first day on (the plan's `amounts` steps) ...
    steps: list[tuple[date, Decimal]] = field(default_factory=list)
    # ... or one price escalated: (factor, every, first increase), the plan's `escalate`.
    escalation: tuple[Fraction, Every, date] | None = None
    # Weekdays a business-day rule skips (the plan's `holidays`), read from the dates.
    holidays: frozenset[date] = frozenset()
    # Whole periods billed by a line of their own (the plan's `pauses`): first and last day.
    pauses: tuple[tuple[date, date], ...] = ()


@dataclass
class Pool:
    """The items still to be placed, by date."""

    by_date: dict[date, list[Found]] = field(default_factory=lambda: defaultdict(list))
    used: set[int] = field(default_factory=set)
    dates: list[date] = field(default_factory=list)  # sorted, for ranges

    @classmethod
    def of(cls, items: Iterable[Found]) -> Pool:
        pool = cls()
        for item in items:
            if item.date is not None:
                pool.by_date[item.date].append(item)
        pool.dates = sorted(pool.by_date)
        return pool

    def at(self, day: date) -> Iterator[Found]:
        for item in self.by_date.get(day, ()):
            if id(item) not in self.used:
                yield item

    def between(self, first: date, last: date) -> list[Found]:
        """The free items dated from first to last, inclusive, in date order."""
        low = bisect.bisect_left(self.dates, first)
        high = bisect.bisect_right(self.dates, last)
        return [item for day in self.dates[low:high] for item in self.at(day)]

    def take(self, items: Iterable[Found]) -> None:
        self.used.update(id(item) for item in items)

    def free(self, item: Found) -> bool:
        return id(item) not in self.used

    def holds(self, day: date) -> bool:
        """Whether any item, placed or not, is dated `day`."""
        return bool(self.by_date.get(day))


def fit(first: Found, pool: Pool, *, stubs: bool) -> Run | None:
    """The longest run of free items that `first` begins as a full period (with stubs around
    it when `stubs`), or None when no run reproduces them exactly."""
    assert first.date is not None
    best: Run | None = None
    for shape, anchor in _shapes(first.date):
        period = _full(shape.every, anchor, 0)
        for template in _templates(first.description, period):
            run = _extend(shape, anchor, template, first, pool)
            # A stub may need a `day` the full periods alone do not: each shape with its own.
            worth = best is None or len(run.items) + 2 > len(best.items)
            if stubs and worth and len(run.items) >= STUBBED_LEAST:
                run = _with_stubs(run, pool)
            if (best is None or _rank(run) > _rank(best)) and reproduces(run):
                best = run
    return best


def _rank(run: Run) -> tuple[int, int]:
    # The most items, then the most full periods: of two readings of a stub and a quarter,
    # the one billing two full quarters is the run (a run needs two full periods).
    return len(run.items), _full_periods(run)


def longest(items: Sequence[Found], pool: Pool, *, stubs: bool, least: int) -> list[Run]:
    """Runs of at least `least` full periods, taken from the pool longest first (ties: the
    earliest item's). Taking a run can only shorten the others: each is found again when its
    turn comes and waits again if it has shrunk (a lazy greedy)."""
    queue: list[tuple[int, int]] = []
    inside: set[int] = set()  # deep inside a run found already: no start of a longer one
    for n, item in enumerate(items):
        if id(item) in inside:
            continue
        run = fit(item, pool, stubs=stubs)
        if run is not None and _full_periods(run) >= least:
            queue.append((-len(run.items), n))
            inside.update(id(found) for _, found in run.items[2:])
    heapq.heapify(queue)
    runs: list[Run] = []
    while queue:
        length, n = heapq.heappop(queue)
        run = fit(items[n], pool, stubs=stubs) if pool.free(items[n]) else None
        if run is None or _full_periods(run) < least:
            continue
        if len(run.items) != -length:
            heapq.heappush(queue, (-len(run.items), n))
            continue
        pool.take(item for _, item in run.items)
        runs.append(run)
    return runs


def _full_periods(run: Run) -> int:
    return sum(not period.is_stub for period, _ in run.items)


def _templates(text: str, period: Period) -> Iterator[str]:
    seen: set[str] = set()
    for source in wording.templates(text, period):
        if source not in seen and wording.describes(source, period, text):
            seen.add(source)
            yield source


def _shapes(day: date) -> Iterator[tuple[Shape, date]]:
    """Every shape (and the first full period's first day) that dates a period on `day`."""
    days: list[DayRule | None] = [None, day.day, 31, 30, 29, *_NAMED_DAYS]
    for every in EVERIES:
        fitting: list[tuple[Shape, date]] = []
        for bill in BILLS:
            anchor = _anchor(every, bill, day)
            if anchor is None:
                continue
            period = _full(every, anchor, 0)
            seen: set[DayRule | None] = set()
            for rule in days:
                if rule in seen or (isinstance(rule, int) and rule < day.day):
                    continue
                seen.add(rule)
                shape = Shape(every, bill, rule)
                if _dated(shape, period) == day:
                    fitting.append((shape, anchor))
        # The fewest keys to write first: `bill` and `day` only where the dates need them.
        yield from sorted(fitting, key=lambda pair: _keys_written(pair[0]))


def _keys_written(shape: Shape) -> tuple[int, bool]:
    # Between `bill: in_arrears` and a `day`, the billing rule reads plainer than a day.
    return (shape.bill != "in_advance") + (shape.day is not None), shape.day is not None


def _anchor(every: Every, bill: Bill, day: date) -> date | None:
    """The first day of the calendar period billed in `day`'s month, if any is."""
    months = _MONTHS[every.unit]
    first_month = day.month if bill == "in_advance" else day.month - months + 1
    if (first_month - 1) % months != 0 or first_month < 1:
        return None
    return date(day.year, first_month, 1)


def _full(every: Every, anchor: date, k: int) -> Period:
    """The k-th whole calendar period from anchor (k may be negative)."""
    return schedule.periods(every, "calendar", every.add(anchor, k), count=1)[0]


def _dated(shape: Shape, period: Period, holidays: frozenset[date] = frozenset()) -> date:
    when = schedule.bill_date(period, shape.bill)
    return when if shape.day is None else schedule.move_to_day(when, shape.day, holidays)


def _price(run: Run, period: Period) -> Decimal:
    """What the run bills for `period`, as compiler.expand.recurring prices it: the step in
    force on its first day, escalated, prorated when a stub, rounded once."""
    base = run.amount
    for start, amount in run.steps:
        if start <= period.start:
            base = amount
    exact = Fraction(base)
    if run.escalation is not None:
        factor, every, first = run.escalation
        exact *= factor ** schedule.count_increases(first, every, period.start)
    if period.is_stub and run.prorate == "daily":
        exact = exact * period.days / period.full_days
    if exact == Fraction(base):
        return base
    return round_money(exact, run.items[0][1].currency, run.rounding)


def _extend(shape: Shape, anchor: date, template: str, first: Found, pool: Pool) -> Run:
    first_period = _full(shape.every, anchor, 0)
    run = Run(shape, template, first.amount, first_period.start, first_period.end, [])
    run.items.append((first_period, first))
    k = 1
    while True:
        try:
            period = _full(shape.every, anchor, k)
        except (ScheduleError, OverflowError, ValueError):
            break
        match = next(_matches(run, period, pool), None)
        if match is None:
            moved = _past_holidays(run, period, pool)
            if moved is not None:
                match, run.holidays = moved
        if match is None:
            across = _across_odd_ones(run, anchor, k, pool)
            if across is None:
                break
            k, period, match = across
        run.items.append((period, match))
        run.end = period.end
        k += 1
    return _outnumbering_pauses(run)


def _across_odd_ones(
    run: Run, anchor: date, k: int, pool: Pool
) -> tuple[int, Period, Found] | None:
    """The run carried on past the k-th period and up to MAX_PAUSED - 1 more, each billed on
    its day by a line the run does not describe or price (edited by hand), to the next period
    it bills: that period's number, the period and its item; the skipped periods are paused."""
    skipped: list[Period] = []
    for gap in range(MAX_PAUSED + 1):
        try:
            period = _full(run.shape.every, anchor, k + gap)
        except (ScheduleError, OverflowError, ValueError):
            return None
        if skipped:
            match = next(_matches(run, period, pool), None)
            if match is not None:
                run.pauses = (*run.pauses, (skipped[0].start, skipped[-1].end))
                return k + gap, period, match
        if not odd_ones(run, [period], pool):
            return None
        skipped.append(period)
    return None


def odd_ones(run: Run, periods: Sequence[Period], pool: Pool) -> bool:
    """Whether a line of its own is billed on the day the run would bill each period: the
    periods it may pause."""
    return all(pool.holds(_dated(run.shape, period, run.holidays)) for period in periods)


def _outnumbering_pauses(run: Run) -> Run:
    """The run cut back before its last pause until the periods it bills outnumber those it
    pauses two to one: two lines around an odd one are three lines, not a charge."""
    while not outnumbers_pauses(run):
        first, _ = run.pauses[-1]
        run.pauses = run.pauses[:-1]
        run.items = [(period, item) for period, item in run.items if period.end < first]
        run.end = run.items[-1][0].end
    return run


def outnumbers_pauses(run: Run) -> bool:
    """Whether the run bills at least twice as many periods as it pauses, and one more."""
    paused_periods = sum(
        len(schedule.periods(run.shape.every, "calendar", first, end=last))
        for first, last in run.pauses
    )
    return len(run.items) >= 2 * paused_periods + 1


def paused(run: Run, period: Period) -> bool:
    """Whether one of the run's pauses covers the period."""
    return any(first <= period.start and period.end <= last for first, last in run.pauses)


def _matches(run: Run, period: Period, pool: Pool) -> Iterator[Found]:
    """Free items this run would bill for `period` exactly."""
    amount = _price(run, period)
    for item in pool.at(_dated(run.shape, period, run.holidays)):
        if item.amount == amount and wording.describes(run.template, period, item.description):
            yield item


def _past_holidays(run: Run, period: Period, pool: Pool) -> tuple[Found, frozenset[date]] | None:
    """A free item billed on an earlier working day than the last business day (or a later
    one than the first), as if the weekdays it passes over were holidays (Thameside's August
    bills on Friday the 28th: the 31st is a bank holiday); with the run's holidays and those."""
    if run.shape.day not in _BUSINESS_DAYS:
        return None
    step = -ONE_DAY if run.shape.day == "last_business_day" else ONE_DAY
    day = _dated(run.shape, period, run.holidays)
    month = (day.year, day.month)  # a business-day rule keeps to the month `bill` chose
    passed = set(run.holidays)
    skipped = 0
    while skipped < _MOST_HOLIDAYS:
        passed.add(day)
        skipped += 1
        day += step
        while day.weekday() >= 5:
            day += step
        if (day.year, day.month) != month:
            return None
        trial = replace(run, holidays=frozenset(passed))
        match = next(_matches(trial, period, pool), None)
        if match is not None:
            return match, frozenset(d for d in passed if d.weekday() < 5)
    return None


def _with_stubs(run: Run, pool: Pool) -> Run:
    """The run with a stub period before and after it, where free items price as one."""
    every = run.shape.every
    if not _neighbours(run, pool, every):
        return run
    for prorate in _PRORATES:
        for rounding in _ROUNDINGS if prorate == "daily" else ("half_up",):
            trial = replace(run, prorate=prorate, rounding=rounding, items=list(run.items))
            head = _first_stub(trial, pool, every)
            if head is not None:
                trial.template = head[2]
            tail = _last_stub(trial, pool, every)
            if tail is not None:
                trial.template = tail[2]
            if head is None and tail is None:
                continue
            if head is not None:
                trial.items.insert(0, head[:2])
                trial.start = head[0].start
            if tail is not None:
                trial.items.append(tail[:2])
                trial.end = tail[0].end
            trial.stubbed = True
            return trial
    return run


def _neighbours(run: Run, pool: Pool, every: Every) -> bool:
    """Whether any free item is dated in the period before or after the run."""
    try:
        before = _full(every, run.items[0][0].full_start, -1).full_start
    except (ScheduleError, OverflowError, ValueError):
        before = run.items[0][0].full_start
    try:
        after = _full(every, run.items[-1][0].full_start, 1).full_end
    except (ScheduleError, OverflowError, ValueError):
        after = run.items[-1][0].full_end
    return bool(pool.between(before, run.items[0][0].full_start - ONE_DAY)) or bool(
        pool.between(run.items[-1][0].full_end + ONE_DAY, after)
    )


_Stub = tuple[Period, Found, str]  # the stub period, its item, the run's template with it


def _first_stub(run: Run, pool: Pool, every: Every) -> _Stub | None:
    try:
        whole = _full(every, run.items[0][0].full_start, -1)
    except (ScheduleError, OverflowError, ValueError):
        return None
    for item in pool.between(whole.full_start, whole.full_end):
        for days in _lengths(run, whole, item, first=True):
            stub = whole._replace(start=whole.full_end - timedelta(days=days - 1))
            for template in _stub_templates(run, stub, item):
                if _bills(replace(run, template=template), stub, whole, item):
                    return stub, item, template
    return None


def _last_stub(run: Run, pool: Pool, every: Every) -> _Stub | None:
    try:
        whole = _full(every, run.items[-1][0].full_start, 1)
    except (ScheduleError, OverflowError, ValueError):
        return None
    for item in pool.between(whole.full_start, whole.full_end):
        for days in _lengths(run, whole, item, first=False):
            stub = whole._replace(end=whole.full_start + timedelta(days=days - 1))
            for template in _stub_templates(run, stub, item):
                if _bills(replace(run, template=template), stub, whole, item):
                    return stub, item, template
    return None


def _bills(run: Run, stub: Period, whole: Period, item: Found) -> bool:
    """Whether the run bills `item` as its stub: exactly, and as a stub in earnest. A "stub"
    dated and priced as its whole period would be, with words for stubs only, is a line
    edited by hand in disguise: that line is a charge of its own, as a person writes it."""
    if next(_matches(run, stub, _Only(item)), None) is None:
        return False
    disguised = _dated(run.shape, stub, run.holidays) == _dated(
        run.shape, whole, run.holidays
    ) and _price(run, stub) == _price(run, whole)
    return not (disguised and STUB_ONLY in run.template)


def _stub_templates(run: Run, stub: Period, item: Found) -> Iterator[str]:
    """The run's template, then, where the stub's text is a full period's with an ending
    (`... January 2026 (16 days from 16 January)`), the template with that ending written
    for stubs only."""
    yield run.template
    if STUB_ONLY in run.template:
        return  # the other stub chose the ending already
    full = wording.rendered(run.template, stub)
    if full is None or not item.description.startswith(full) or item.description == full:
        return
    for ending in wording.endings(item.description[len(full) :], stub):
        yield f"{run.template}{STUB_ONLY}{ending}{{% endif %}}"


def _lengths(run: Run, whole: Period, item: Found, *, first: bool) -> list[int]:
    """The stub lengths (in days, shorter than the whole period) that could bill `item`:
    read from its date where the date is the stub's edge, from its amount where the price is
    prorated, and otherwise every length."""
    assert item.date is not None
    full = whole.full_days
    edge = "in_advance" if first else "in_arrears"
    if run.shape.bill == edge and run.shape.day is None:
        # Dated on the stub's first day (first stub) or its last (last stub).
        days = (whole.full_end - item.date if first else item.date - whole.full_start).days + 1
        return [days] if 1 <= days < full else []
    if run.prorate == "none" or run.amount == 0:
        # The price does not depend on the length; the date depends only on the month the
        # stub starts (or ends) in: one length for each month is enough.
        months = _MONTHS[run.shape.every.unit]
        return _one_per_month(whole, months, first=first) if item.amount == run.amount else []
    # amount = round(price x days / full): days is within one of price x days / full's inverse.
    near = math.floor(Fraction(item.amount) * full / Fraction(run.amount))
    return [days for days in range(near - 1, near + 3) if 1 <= days < full]


def _one_per_month(whole: Period, months: int, *, first: bool) -> list[int]:
    """A stub length for each month of the whole period: the longest stub starting (first) or
    ending (last) in that month."""
    lengths = []
    for k in range(months):
        month = schedule.add_months(whole.full_start, k)
        if first:
            start = max(month, whole.full_start + ONE_DAY)
            lengths.append((whole.full_end - start).days + 1)
        else:
            end = min(schedule.add_months(month, 1) - ONE_DAY, whole.full_end - ONE_DAY)
            lengths.append((end - whole.full_start).days + 1)
    return lengths


class _Only(Pool):
    """A pool of one item, as a stub candidate is tried alone."""

    def __init__(self, item: Found) -> None:
        super().__init__()
        self.item = item

    def at(self, day: date) -> Iterator[Found]:
        if self.item.date == day:
            yield self.item


def reproduces(run: Run) -> bool:
    """Whether expanding the run's terms bills exactly its items, period by period."""
    try:
        periods = _billed(run)
    except (ScheduleError, ValueError):
        return False
    if len(periods) != len(run.items):
        return False
    for period, (_, item) in zip(periods, run.items, strict=True):
        if period.is_stub and run.prorate == "skip":
            return False
        if (
            _dated(run.shape, period, run.holidays) != item.date
            or _price(run, period) != item.amount
            or not wording.describes(run.template, period, item.description)
        ):
            return False
    return True


def labelled(run: Run) -> list[tuple[str, Found]]:
    """Each item of the run with its period's label (the last part of its address)."""
    periods = _billed(run)
    return [(period.label, item) for period, (_, item) in zip(periods, run.items, strict=True)]


def _billed(run: Run) -> list[Period]:
    """The periods the run's terms bill: from start to end, less those paused (whole)."""
    periods = schedule.periods(run.shape.every, "calendar", run.start, end=run.end)
    return [period for period in periods if not paused(run, period)]
