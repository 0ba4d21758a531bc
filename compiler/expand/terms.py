"""A repeating charge's periods and the day each is billed on, computed from its Term.

Shared by recurring charges and repeating products.
"""

from __future__ import annotations

from collections.abc import Set
from datetime import date

from compiler import schedule
from compiler.expand.spec import Invalid, Room, Term
from compiler.schedule import Period, ScheduleError, TooManyPeriods


def periods(term: Term, room: Room) -> list[Period]:
    """The term's periods, up to as many as the plan still has room for items."""
    try:
        return schedule.periods(
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


def bill_date(term: Term, period: Period, holidays: Set[date]) -> date:
    when = schedule.bill_date(period, term.bill)
    if term.day is not None:
        try:
            when = schedule.move_to_day(when, term.day, holidays)
        except ValueError as exc:
            raise Invalid(term.day_path, str(exc)) from None
    return when
