"""A milestone's occurrences: one on its date (or task), or one per split part, the parts'
amounts allocated from the total so that they add up to it exactly."""

from __future__ import annotations

from collections.abc import Iterator

from compiler.expand.spec import MilestoneSpec, Occurrence, SplitSpec
from compiler.money import allocate


def occurrences(spec: MilestoneSpec) -> Iterator[Occurrence]:
    yield Occurrence(
        None,
        spec.when.date,
        None,
        spec.amount,
        quantity=spec.quantity,
        rate=spec.rate,
        task=spec.when.task,
        percent=spec.percent,
    )


def split_occurrences(spec: SplitSpec) -> Iterator[Occurrence]:
    fractions = [part.fraction for part in spec.parts]
    amounts = allocate(spec.total, fractions, spec.charge.currency)
    for part, amount in zip(spec.parts, amounts, strict=True):
        yield Occurrence(
            part.key,
            part.when.date,
            None,
            amount,
            task=part.when.task,
            description=part.description,
        )
