"""Periods, labels, billing dates and calendar arithmetic for recurring charges.

Pure functions over dates; no money here (amounts are decided in compiler/expand). Dates run from
0001-01-01 to 9999-12-31 (Python's, and the plan's four-digit years): a schedule that would
go past them is a ScheduleError, as is one with more periods than the caller allows.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Literal, NamedTuple

from dateutil.relativedelta import relativedelta


class Period(NamedTuple):
    """One service period of a recurring charge, possibly a stub cut from a whole period.

    A named tuple: a plan of 100,000 items makes about as many (compiler.model.Item).
    """

    start: date  # first day of service in this period
    end: date  # last day of service, inclusive
    full_start: date  # the whole period this one was cut from
    full_end: date
    label: str
    index: int  # from 1
    count: int | None  # how many periods the charge has; None when open-ended

    @property
    def is_stub(self) -> bool:
        return self.start != self.full_start or self.end != self.full_end

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def full_days(self) -> int:
        return (self.full_end - self.full_start).days + 1

    def context(self) -> dict[str, object]:
        """What a description template sees as `period` (docs/language.md, Templates)."""
        # Made for every item that reads its period: the fields unpacked, not read one by one.
        start, end, full_start, full_end, label, index, count = self
        return {
            "start": start,
            "end": end,
            "label": label,
            "index": index,
            "count": count,
            "days": (end - start).days + 1,
            "is_stub": start != full_start or end != full_end,
        }


Unit = Literal["week", "month", "quarter", "year"]
Align = Literal["calendar", "start"]
Bill = Literal["in_advance", "in_arrears"]
DayRule = int | Literal["last", "first_business_day", "last_business_day"]

UNITS: tuple[Unit, ...] = ("week", "month", "quarter", "year")
_MONTHS_PER: dict[Unit, int] = {"week": 0, "month": 1, "quarter": 3, "year": 12}
_UNIT_WORDS: dict[str, Unit] = {unit: unit for unit in UNITS}
# Only weeks and months take a count: "N quarters" is written "3N months" in a plan.
_COUNTED_UNITS: dict[str, Unit] = {"weeks": "week", "months": "month"}
_EVERY_FORMS = "week, N weeks, month, N months, quarter or year"
# A horizon, as docs/language.md lists its forms: N days, N weeks, N months or N years (N at
# least 1, the unit singular only for 1), or the unit alone for one; no quarters (write
# 3 months). At most about a hundred years ahead in each unit. HORIZON_PATTERN is the one
# rule: the schema's `duration` pattern is this very text (tests/test_horizon.py checks).
_DURATIONS: dict[str, relativedelta] = {
    "day": relativedelta(days=1),
    "week": relativedelta(weeks=1),
    "month": relativedelta(months=1),
    "year": relativedelta(years=1),
}
_MAX_DURATION: dict[str, int] = {"day": 36_525, "week": 5_218, "month": 1_200, "year": 100}
# N from 1 to each unit's most, as a regular expression an editor's schema check can run.
_AT_MOST: dict[str, str] = {
    "day": "[1-9][0-9]{0,3}|[12][0-9]{4}|3[0-5][0-9]{3}|36[0-4][0-9]{2}|365[01][0-9]|3652[0-5]",
    "week": "[1-9][0-9]{0,2}|[1-4][0-9]{3}|5[01][0-9]{2}|520[0-9]|521[0-8]",
    "month": "[1-9][0-9]{0,2}|1[01][0-9]{2}|1200",
    "year": "[1-9][0-9]?|100",
}
HORIZON_PATTERN = (
    "^(day|week|month|year|1 (day|week|month|year)|"
    + "|".join(f"({_AT_MOST[unit]}) {unit}s" for unit in _DURATIONS)
    + ")$"
)
_HORIZON = re.compile(HORIZON_PATTERN)
_DURATION_FORMS = "N days, N weeks, N months or N years, or day, week, month or year"
_DIGITS = re.compile(r"[0-9]+")
# A charge repeats every at most 999 weeks or months (19 and 83 years).
MAX_EVERY = 999
LAST_DAY = date.max  # 9999-12-31
_ONE_DAY = timedelta(days=1)
_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class ScheduleError(ValueError):
    """A schedule billplan cannot date; the message says why."""


class PastLastDate(ScheduleError):
    def __init__(self) -> None:
        super().__init__(
            f"the schedule runs past {LAST_DAY.isoformat()}, the last date billplan can bill; "
            "end it earlier"
        )


class TooManyPeriods(ScheduleError):
    def __init__(self, most: int) -> None:
        self.most = most
        super().__init__(f"the schedule has more than {most:,} periods")


@dataclass(frozen=True)
class Every:
    """How often a recurring charge repeats: `n` units, where a quarter is 3 months."""

    unit: Unit
    n: int = 1

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"unknown unit {self.unit!r}: expected one of {', '.join(UNITS)}")
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"a charge repeats every 1 or more {self.unit}s, not {self.n!r}")

    @classmethod
    def parse(cls, text: str) -> Every:
        """Read `every:` as written in a plan: week, N weeks, month, N months, quarter, year."""
        words = text.split()
        if len(words) == 1 and words[0] in _UNIT_WORDS:
            return cls(_UNIT_WORDS[words[0]])
        if len(words) == 2 and _DIGITS.fullmatch(words[0]) and int(words[0]) >= 1:
            n, word = int(words[0]), words[1]
            if n > MAX_EVERY:
                raise ValueError(
                    f"every: at most {MAX_EVERY} weeks or months between bills, got {text!r}"
                )
            unit = _COUNTED_UNITS.get(word) or (_COUNTED_UNITS.get(f"{word}s") if n == 1 else None)
            if unit is not None:
                return cls(unit, n)
        raise ValueError(f"every: expected {_EVERY_FORMS}, got {text!r}")

    @property
    def month_based(self) -> bool:
        return self.unit != "week"

    def add(self, start: date, k: int) -> date:
        """start + k intervals, in one step from start, the day clamped to the month's end."""
        if self.unit == "week":
            # Plain day arithmetic: no clamping to worry about, and fast for long weekly runs.
            return start + timedelta(weeks=self.n * k)
        # One step from start (not k additions) so Jan 31 never drifts to the 28th.
        return add_months(start, _MONTHS_PER[self.unit] * self.n * k)


def add_months(d: date, months: int) -> date:
    """d plus a number of months, the day clamped to the month's end (as relativedelta does)."""
    year, month = divmod(d.year * 12 + d.month - 1 + months, 12)
    month += 1
    last = _DAYS_IN_MONTH[month] if month != 2 or not calendar.isleap(year) else 29
    return date(year, month, d.day if d.day <= last else last)


def parse_duration(text: str) -> relativedelta:
    """Read a horizon such as `12 months`, `1 year`, `6 weeks`, `90 days` or `month`.

    Exactly the texts HORIZON_PATTERN matches; anything else is a ValueError saying why.
    """
    if _HORIZON.fullmatch(text):
        words = text.split(" ")
        n = 1 if len(words) == 1 else int(words[0])
        return _DURATIONS[words[-1].removesuffix("s")] * n
    words = text.split(" ")
    if len(words) == 2 and _DIGITS.fullmatch(words[0]) and words[0][0] != "0":
        unit = words[1].removesuffix("s")
        if unit in _MAX_DURATION and words[1].endswith("s"):
            most = "" if unit == "year" else f" ({_MAX_DURATION[unit]:,} {unit}s)"
            raise ValueError(f"horizon: at most 100 years ahead{most}, got {text!r}")
    if "quarter" in text:
        raise ValueError(f"horizon: quarters are not a horizon unit; write 3 months, got {text!r}")
    raise ValueError(f"horizon: expected {_DURATION_FORMS}, got {text!r}")


# A milestone dated after another: `plus: 30 days | 20 business days | 6 weeks | 1 month`.
# N from 0 to 9999, the unit singular only for 1. OFFSET_PATTERN is the schema's pattern.
OFFSET_PATTERN = (
    "^(1 (day|business day|week|month)|(0|[1-9][0-9]{0,3}) (days|business days|weeks|months))$"
)
_OFFSET = re.compile(OFFSET_PATTERN)
OffsetUnit = Literal["day", "business day", "week", "month"]


@dataclass(frozen=True, slots=True)
class Offset:
    """How long after another milestone one is dated: N days, business days, weeks or months."""

    n: int
    unit: OffsetUnit

    @classmethod
    def parse(cls, text: str) -> Offset:
        if not _OFFSET.fullmatch(text):
            raise ValueError(
                "plus: expected N days, N business days, N weeks or N months (N from 0 to 9999; "
                f"1 day, 1 business day, 1 week, 1 month), got {text!r}"
            )
        n, unit = text.split(" ", 1)
        return cls(int(n), unit.removesuffix("s"))  # type: ignore[arg-type]

    def after(self, d: date, holidays: AbstractSet[date] = frozenset()) -> date:
        """d plus this offset. Months clamp to the month's end (Jan 31 + 1 month = Feb 28);
        business days skip Saturdays, Sundays and holidays, and 0 business days is d itself
        or, when d is not a business day, the next one. PastLastDate past 9999-12-31."""
        try:
            if self.unit == "month":
                return add_months(d, self.n)
            if self.unit != "business day":
                return d + timedelta(days=self.n * (7 if self.unit == "week" else 1))
            counted = 0
            while self.n == 0 and (d.weekday() >= 5 or d in holidays):
                d += _ONE_DAY  # 0 business days after a weekend or holiday: the next one
            while counted < self.n:
                d += _ONE_DAY
                if d.weekday() < 5 and d not in holidays:
                    counted += 1
            return d
        except (OverflowError, ValueError):
            raise PastLastDate() from None


def periods(
    every: Every,
    align: Align,
    start: date,
    *,
    end: date | None = None,
    count: int | None = None,
    until: date | None = None,
    most: int | None = None,
) -> list[Period]:
    """The service periods of a charge, from `start` to `end`, `count` periods, or `until`.

    With `until` (an open-ended charge), every period whose first day is on or before `until`,
    each with count None. TooManyPeriods when there would be more than `most`, PastLastDate
    when a period would end after 9999-12-31.
    """
    if sum(limit is not None for limit in (end, count, until)) != 1:
        raise ValueError("a schedule needs exactly one of end, count or until")
    if end is not None and end < start:
        raise ValueError(f"end {end} is before start {start}")
    if count is not None and count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if align not in ("calendar", "start"):
        raise ValueError(f"align: expected calendar or start, got {align!r}")
    if most is not None and count is not None and count > most:
        raise TooManyPeriods(most)

    # Every boundary is computed from one anchor, so calendar and anniversary schedules share
    # the loop: the anchor is the calendar period containing start, or start itself.
    anchor = start if align == "start" else _calendar_floor(every, start)
    boundary = _boundaries(every, anchor)
    spans: list[tuple[date, date, date, date]] = []  # (start, end, full_start, full_end)
    full_start = anchor
    while count is None or len(spans) < count:
        first_day = start if start > full_start else full_start
        if (end is not None and first_day > end) or (until is not None and first_day > until):
            break
        if most is not None and len(spans) >= most:
            raise TooManyPeriods(most)
        try:
            next_boundary = boundary(len(spans) + 1)
        except (OverflowError, ValueError):  # the year 10000, or a timedelta past it
            raise PastLastDate() from None
        full_end = next_boundary - _ONE_DAY
        last_day = full_end if end is None or full_end < end else end
        spans.append((first_day, last_day, full_start, full_end))
        full_start = next_boundary

    total = None if until is not None else len(spans)
    if align == "start":  # labelled by the whole period's first day
        label = _start_label
        return [
            Period(s, e, fs, fe, label(fs), index, total)
            for index, (s, e, fs, fe) in enumerate(spans, start=1)
        ]
    label = _CALENDAR_LABELS[every.unit]  # by the period's own first day
    return [
        Period(s, e, fs, fe, label(s), index, total)
        for index, (s, e, fs, fe) in enumerate(spans, start=1)
    ]


def _boundaries(every: Every, anchor: date) -> Callable[[int], date]:
    """k -> every.add(anchor, k): what is the same for every boundary worked out once, as a
    charge's periods are counted in the tens of thousands."""
    if every.unit == "week":
        step = timedelta(weeks=every.n)
        return lambda k: anchor + step * k
    months = _MONTHS_PER[every.unit] * every.n
    first = anchor.year * 12 + anchor.month - 1
    day = anchor.day
    if day > 28:  # clamped to the end of shorter months
        return lambda k: add_months(anchor, months * k)

    def boundary(k: int) -> date:
        year, month = divmod(first + months * k, 12)
        return date(year, month + 1, day)

    return boundary


def bill_date(period: Period, bill: Bill) -> date:
    """The date a period is billed on: its first day in advance, its last day in arrears.

    A first stub's last day is the end of the calendar period it was cut from; a final stub's
    is the charge's end.
    """
    if bill == "in_advance":
        return period.start
    if bill == "in_arrears":
        return period.end
    raise ValueError(f"bill: expected in_advance or in_arrears, got {bill!r}")


def move_to_day(d: date, day: DayRule, holidays: AbstractSet[date] = frozenset()) -> date:
    """Move a billing date within its own month to the plan's `day` rule."""
    last = calendar.monthrange(d.year, d.month)[1]
    if isinstance(day, int) and not isinstance(day, bool):
        if not 1 <= day <= 31:
            raise ValueError(f"day: expected 1..31, got {day}")
        return d.replace(day=min(day, last))
    if day == "last":
        return d.replace(day=last)
    if day in ("first_business_day", "last_business_day"):
        days = range(1, last + 1) if day == "first_business_day" else range(last, 0, -1)
        for n in days:
            candidate = d.replace(day=n)
            if candidate.weekday() < 5 and candidate not in holidays:
                return candidate
        raise ValueError(
            f"{d:%Y-%m} has no business day: every weekday of the month is a holiday;"
            " remove some holidays or use a numeric day"
        )
    raise ValueError(
        f"day: expected 1..31, last, first_business_day or last_business_day, got {day!r}"
    )


def count_increases(first: date, every: Every, on_or_before: date) -> int:
    """How many of first, first + every, first + 2 x every, ... fall on or before a date."""
    if on_or_before < first:
        return 0
    if every.unit == "week":
        return (on_or_before - first).days // (7 * every.n) + 1
    # Boundary k lies in month first + k*step, so only the boundary that shares on_or_before's
    # month can overshoot it (by its day); everything before it is in an earlier month.
    step = _MONTHS_PER[every.unit] * every.n
    months = (on_or_before.year - first.year) * 12 + on_or_before.month - first.month
    k = months // step
    if every.add(first, k) > on_or_before:
        k -= 1
    return k + 1


def _calendar_floor(every: Every, d: date) -> date:
    """First day of the calendar period (ISO week, month, quarter, year) that contains d."""
    if every.unit == "week":
        return d - timedelta(days=d.weekday())
    if every.unit == "month":
        return d.replace(day=1)
    if every.unit == "quarter":
        return date(d.year, (d.month - 1) // 3 * 3 + 1, 1)
    return date(d.year, 1, 1)


# A period's label, by how the charge is aligned: from the first day of the whole period it
# was cut from when aligned on its own start (the anniversary), else from its own first day,
# by the calendar unit. Each is written once per date (formatting takes a microsecond or
# two, and a plan's charges share their months).


@lru_cache(maxsize=4096)
def _start_label(full_start: date) -> str:
    return full_start.isoformat()


@lru_cache(maxsize=4096)
def _week_label(first_day: date) -> str:
    return "{:04d}-W{:02d}".format(*first_day.isocalendar())  # the ISO year: 2027-01-01 is 2026-W53


@lru_cache(maxsize=4096)
def _month_label(first_day: date) -> str:
    return f"{first_day.year:04d}-{first_day.month:02d}"


@lru_cache(maxsize=4096)
def _quarter_label(first_day: date) -> str:
    return f"{first_day.year:04d}-Q{(first_day.month - 1) // 3 + 1}"


@lru_cache(maxsize=4096)
def _year_label(first_day: date) -> str:
    return f"{first_day.year:04d}"


_CALENDAR_LABELS: dict[Unit, Callable[[date], str]] = {
    "week": _week_label,
    "month": _month_label,
    "quarter": _quarter_label,
    "year": _year_label,
}
