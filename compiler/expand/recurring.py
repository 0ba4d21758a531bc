"""A recurring charge's occurrences: one per period, priced by the step in force, escalated
and prorated, and dated by the term's billing rule."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from fractions import Fraction

from compiler.expand import terms
from compiler.expand.spec import AmountStep, Escalation, Invalid, Occurrence, RecurringSpec, Room
from compiler.money import AmountTooLarge, round_money

# Increases an escalation may compound: each is a power of an exact fraction.
MAX_ESCALATIONS = 1_000

_Factor = Callable[[date], tuple[int, Fraction]]
_ONE = Fraction(1)


def occurrences(spec: RecurringSpec, room: Room) -> Iterator[Occurrence]:
    charge = spec.charge
    settings = charge.settings
    currency, rounding = charge.currency, settings.rounding
    escalated = None if spec.escalation is None else _escalation(spec.escalation)
    # A whole period's amount depends only on the step in force and the increases so far:
    # computed (Fraction arithmetic, rounding) once for each pair, not once per period.
    whole: dict[tuple[Decimal, int], Decimal] = {}
    term = spec.term
    pauses = term.pauses
    steps = spec.steps
    # One price throughout (most charges): no step to look up for each period.
    price = steps[0].amount if len(steps) == 1 else None
    daily, skip = spec.prorate == "daily", spec.prorate == "skip"
    # Without pauses or a `day` rule, a period is billed on its first or last day.
    plain = not pauses and term.day is None and term.bill in _BILL_DAY
    last_day = term.bill == "in_arrears"
    holidays = settings.holidays
    try:
        for period in terms.periods(term, room):
            start, end, full_start, full_end = period[:4]
            # A period a pause cuts is priced like a stub: by the days billed under `daily`.
            service = terms.served(term, period) if pauses else None
            if pauses and service is None:
                continue  # paused throughout: nothing to bill
            full_days = (full_end - full_start).days + 1
            days = (end - start).days + 1 if service is None else service.days
            partial = days != full_days
            if partial and skip:
                continue
            base = price if price is not None else _step_in_force(steps, start)
            n, factor = (0, _ONE) if escalated is None else escalated(start)
            if partial and daily:
                exact = Fraction(base) * factor * days / full_days
                amount = round_money(exact, currency, rounding)
            else:
                amount = whole.get((base, n))
                if amount is None:
                    exact = Fraction(base) * factor
                    amount = whole[base, n] = round_money(exact, currency, rounding)
            if plain:
                when = end if last_day else start
            else:
                when = terms.bill_date(term, period, holidays, service)
            yield Occurrence(period.label, when, period, amount)
    except AmountTooLarge as exc:  # written amounts are bounded: escalation grew it
        raise Invalid(spec.growth_path, str(exc)) from None


# The billing rules schedule.bill_date knows: the period's first day, or its last.
_BILL_DAY = frozenset({"in_advance", "in_arrears"})


def _escalation(escalation: Escalation) -> _Factor:
    """The increases so far on a day, and the factor a price is multiplied by then:
    (1 + by) to that power."""
    powers: dict[int, Fraction] = {}

    def escalated(day: date) -> tuple[int, Fraction]:
        n = escalation.increases(day)
        if n > MAX_ESCALATIONS:
            raise Invalid(
                escalation.path,
                f"the price would escalate more than {MAX_ESCALATIONS:,} times by "
                f"{day.isoformat()}; escalate less often or end the charge earlier",
            )
        if n not in powers:
            powers[n] = escalation.factor**n
        return n, powers[n]

    return escalated


def _step_in_force(steps: tuple[AmountStep, ...], day: date) -> Decimal:
    amount = steps[0].amount
    for step in steps:
        if step.start > day:
            break
        amount = step.amount
    return amount
