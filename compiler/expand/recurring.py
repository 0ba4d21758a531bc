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

_Factor = Callable[[date], Fraction]


def occurrences(spec: RecurringSpec, room: Room) -> Iterator[Occurrence]:
    charge = spec.charge
    settings = charge.settings
    escalated = _escalation(spec.escalation)
    try:
        for period in terms.periods(spec.term, room):
            # A period a pause cuts is priced like a stub: by the days billed under `daily`.
            service = terms.served(spec.term, period) if spec.term.pauses else None
            if spec.term.pauses and service is None:
                continue  # paused throughout: nothing to bill
            days = period.days if service is None else service.days
            partial = days != period.full_days
            if partial and spec.prorate == "skip":
                continue
            base = _step_in_force(spec.steps, period.start)
            exact = Fraction(base) * escalated(period.start)
            if partial and spec.prorate == "daily":
                exact = exact * days / period.full_days
            amount = round_money(exact, charge.currency, settings.rounding)
            when = terms.bill_date(spec.term, period, settings.holidays, service)
            yield Occurrence(period.label, when, period, amount)
    except AmountTooLarge as exc:  # written amounts are bounded: escalation grew it
        raise Invalid(spec.growth_path, str(exc)) from None


def _escalation(escalation: Escalation | None) -> _Factor:
    """The factor a price is multiplied by on a day: (1 + by) to the increases so far."""
    if escalation is None:
        return lambda day: Fraction(1)
    powers: dict[int, Fraction] = {}

    def escalated(day: date) -> Fraction:
        n = escalation.increases(day)
        if n > MAX_ESCALATIONS:
            raise Invalid(
                escalation.path,
                f"the price would escalate more than {MAX_ESCALATIONS:,} times by "
                f"{day.isoformat()}; escalate less often or end the charge earlier",
            )
        if n not in powers:
            powers[n] = escalation.factor**n
        return powers[n]

    return escalated


def _step_in_force(steps: tuple[AmountStep, ...], day: date) -> Decimal:
    amount = steps[0].amount
    for step in steps:
        if step.start > day:
            break
        amount = step.amount
    return amount
