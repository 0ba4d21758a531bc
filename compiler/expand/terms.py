"""A repeating charge's periods, the days of each it bills, and the day each is billed on,
computed from its Term.

Shared by recurring charges and repeating products. A pause takes days out of a period
without moving it: the period keeps its label and address, and is billed for the days
left (none: no item).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from compiler import schedule
from compiler.expand.spec import Invalid, Room, Term
from compiler.schedule import Period, ScheduleError, TooManyPeriods

_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Served:
    """The days of a period a pause cuts that are still billed: first to last, `days` of them."""

    first: date
    last: date
    days: int


def periods(term: Term, room: Room) -> list[Period]:
    """The term's periods, up to as many as the plan still has room for items."""
    try:
        found = schedule.periods(
            term.every,
            term.align,
            term.start,
            end=term.end,
            count=term.count,
            until=term.until,
            most=room.left,
        )
    except TooManyPeriods:
        raise room.exceeded(term.periods_path, " with this charge's periods") from None
    except ScheduleError as exc:
        raise Invalid(term.periods_path, str(exc)) from None
    _check_pauses_meet_the_service(term, found)
    room.counted(len(found))
    return found


def served(term: Term, period: Period) -> Served | None:
    """The days of the period left after the term's pauses; None when a pause covers it all.

    Only called for a term with pauses: a term without bills every day of every period.
    """
    first, last = period.start, period.end
    paused = 0
    for pause in term.pauses:  # in date order, none overlapping
        if pause.end < period.start or pause.start > period.end:
            continue
        paused += (min(pause.end, period.end) - max(pause.start, period.start)).days + 1
        if pause.start <= first <= pause.end:
            first = pause.end + _ONE_DAY
    for pause in reversed(term.pauses):
        if pause.start <= last <= pause.end:
            last = pause.start - _ONE_DAY
    if paused >= period.days:
        return None
    return Served(first, last, period.days - paused)


def bill_date(
    term: Term, period: Period, holidays: frozenset[date], service: Served | None = None
) -> date:
    """The period's billing date; for a period a pause cuts, its first or last day billed,
    as a stub is dated on its first or last day of service."""
    if service is None:
        when = schedule.bill_date(period, term.bill)
    else:
        when = service.first if term.bill == "in_advance" else service.last
    if term.day is not None:
        try:
            when = _moved(when, term.day, holidays)
        except ValueError as exc:
            raise Invalid(term.day_path, str(exc)) from None
    return when


@lru_cache(maxsize=4096)
def _moved(when: date, day: schedule.DayRule, holidays: frozenset[date]) -> date:
    """schedule.move_to_day, once per date, rule and holidays: a plan's charges bill in the
    same months (the business-day rules look at every day of a month)."""
    return schedule.move_to_day(when, day, holidays)


def _check_pauses_meet_the_service(term: Term, found: list[Period]) -> None:
    """A pause wholly before start, or after the last day of a charge that ends, pauses
    nothing: most likely a mistyped year, so it is an error rather than ignored."""
    if not term.pauses:
        return
    last_day = found[-1].end if found and term.until is None else None
    for pause in term.pauses:
        if pause.end < term.start:
            raise Invalid(
                pause.path,
                f"this pause ({pause.start.isoformat()} to {pause.end.isoformat()}) ends before "
                f"the charge starts on {term.start.isoformat()}; correct its dates or remove it",
            )
        if last_day is not None and pause.start > last_day:
            raise Invalid(
                pause.path,
                f"this pause ({pause.start.isoformat()} to {pause.end.isoformat()}) starts after "
                f"the charge's last day of service, {last_day.isoformat()}; correct its dates or "
                "remove it",
            )
