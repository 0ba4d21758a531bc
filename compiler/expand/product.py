"""A product's occurrences: quantity x rate once on its date, or on every period of its term
that a pause does not cover (a repeating product is never prorated)."""

from __future__ import annotations

from collections.abc import Iterator

from compiler.expand import terms
from compiler.expand.spec import Occurrence, ProductSpec, Room


def occurrences(spec: ProductSpec, room: Room) -> Iterator[Occurrence]:
    quantity, rate = spec.quantity, spec.rate
    if spec.term is None:
        yield Occurrence(None, spec.date, None, spec.amount, quantity=quantity, rate=rate)
        return
    pauses = spec.term.pauses
    for period in terms.periods(spec.term, room):
        # Never prorated: a period a pause cuts bills in full, one it covers bills nothing.
        service = terms.served(spec.term, period) if pauses else None
        if pauses and service is None:
            continue
        when = terms.bill_date(spec.term, period, spec.charge.settings.holidays, service)
        yield Occurrence(period.label, when, period, spec.amount, quantity=quantity, rate=rate)
