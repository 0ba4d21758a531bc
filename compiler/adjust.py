"""Adjusting lines: the correction billplan proposes when the plan changes the amount of an
object that is already invoiced at the vendor (`adjust: next_open_period`).

An invoiced object is never written (compiler.diff shows it `locked`). With `adjust` in force
for its charge, the plan also wants a second object, the adjusting line, billing the
difference: the plan's amount less the invoiced one, a credit when negative. It lives at the
invoiced object's address plus the segment `~adjust` (`acme/milestones/kickoff/~adjust`), so
`--target`, `--exclude` and `moved:` prefixes carry it with the object it corrects, and no
plan key (`[a-z0-9_-]`) can ever name it.

The line is wanted like any planned object, before the diff runs: the diff creates it, updates
it when the plan changes again, deletes it when the plan returns to the invoiced amount (a
zero difference makes no line), and shows it `locked` once it is invoiced itself. An invoiced
line whose amount is no longer right is corrected the same way, by a line at its own address
plus `~adjust`, so what the customer is billed in all always adds up to the plan.

Its date (next_open_period) is the next period of the same charge whose object is not
invoiced, on or after as-of; for a milestone, a product, a grouped invoice or the last
period, as-of itself. Once made, a line keeps the date it was made with (what state holds),
so a plan made on a later day does not move it: a plan converges.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Protocol

from compiler.model import SECTION, Item, Observed, Resource
from compiler.model.change import ADJUST_SEGMENT, Change, Plan
from compiler.model.fields import field_changes
from compiler.money import format_grouped
from compiler.state import Entry, State

# The modes `adjust:` takes (the schema's enum says the same).
MODES: tuple[str, ...] = ("next_open_period",)
# The last segment of an adjusting line's address.
SEGMENT = ADJUST_SEGMENT
# How much of the corrected object's description an adjusting line repeats: Ruddr names are
# at most 255 characters, and the line's own words come first.
DESCRIBED = 200


class Compiler(Protocol):
    """What compiles an adjusting line for its vendor: a provider (compiler.providers)."""

    fixed_fields: frozenset[str]

    def compile(self, items: Sequence[Item]) -> tuple[list[Resource], list[tuple[Item, str]]]: ...


class AdjustError(Exception):
    """An adjusting line the vendor would refuse: the charge it corrects, and why."""

    def __init__(self, charge: Item, message: str) -> None:
        self.charge = charge
        super().__init__(message)

    @property
    def path(self) -> str:
        """The JSON path of the charge whose invoiced object the line corrects."""
        section = SECTION[self.charge.kind]
        return f"$.projects.{self.charge.project}.{section}.{self.charge.charge}"


@dataclass(frozen=True)
class Adjustment:
    """One adjusting line the plan wants, and what it corrects."""

    address: str  # the line's
    corrects: str  # the invoiced object's address
    invoiced: Decimal  # what the vendor holds there
    planned: Decimal  # what the plan says there now
    currency: str

    @property
    def difference(self) -> Decimal:
        return self.planned - self.invoiced

    def sentence(self) -> str:
        """The line in words, for the plan's reader."""
        money = (format_grouped(a, self.currency) for a in (self.invoiced, self.planned))
        invoiced, planned = money
        signed = format_grouped(abs(self.difference), self.currency)
        sign = "+" if self.difference > 0 else "-"
        what = "extra charge" if self.difference > 0 else "credit"
        return (
            f"adjusting line for {self.corrects}, invoiced at {invoiced} {self.currency} where "
            f"the plan now says {planned}: {what} of {sign}{signed} {self.currency}"
        )


def line_address(address: str) -> str:
    return f"{address}/{SEGMENT}"


def is_line(address: str) -> bool:
    """Whether an address is an adjusting line's."""
    return address.endswith("/" + SEGMENT)


def corrected(address: str) -> str:
    """The address an adjusting line corrects."""
    return address.removesuffix("/" + SEGMENT)


def lines(
    resources: Sequence[Resource],
    state: State,
    observed: Iterable[Observed],
    providers: Mapping[str, Compiler],
    as_of: date,
    unread: Collection[str] = (),
) -> tuple[list[Resource], list[Adjustment]]:
    """The adjusting lines the plan wants, compiled for their vendors, and what each corrects.

    unread names the connections planned from state (`plan --no-refresh`): whether anything
    was invoiced there is unknown, so their adjusting lines stay as billplan last wrote them.
    """
    remote = {(obs.type, obs.remote_id): obs for obs in observed}

    def invoiced(address: str) -> Observed | None:
        entry = state.entries.get(address)
        if entry is None or entry.remote_id is None:
            return None
        obs = remote.get((entry.type, entry.remote_id))
        return obs if obs is not None and obs.locked else None

    made: list[Resource] = [as_written(e) for e in _unread_lines(state, unread)]
    adjustments: list[Adjustment] = []
    later = _Later(resources, invoiced, as_of)
    for resource in resources:
        if not _opted_in(resource):
            continue
        root = resource
        current = resource
        while (obs := invoiced(current.address)) is not None:
            address = line_address(current.address)
            difference = current.amount - obs.amount
            if not field_changes(obs.attributes, current.attributes):
                # The plan wants nothing changed here: a vendor that works an amount out
                # itself (a percentage of a contract value it holds) owes no correction.
                difference = Decimal(0)
            if difference == 0 and invoiced(address) is None:
                break  # nothing to bill; an invoiced line, now wanted at 0, is corrected next
            existing = state.entries.get(address)
            when = existing.date if existing is not None and existing.date else None
            line = _compile(
                _line_item(root, address, difference, when or later.open_date(root)),
                providers[current.provider],
                root.items[0],
            )
            made.append(line)
            adjustments.append(
                Adjustment(address, current.address, obs.amount, current.amount, line.currency)
            )
            current = line
    return made, adjustments


def annotate(plan: Plan, adjustments: Sequence[Adjustment]) -> Plan:
    """The plan with its adjusting lines said in words: a new line is a create for reason
    `adjust`; a changed one names what it corrects; a locked object names the line that
    bills its difference; a line no longer wanted says why it goes."""
    by_line = {a.address: a for a in adjustments}
    by_corrected = {a.corrects: a for a in adjustments}
    changes: list[Change] = []
    for change in plan.changes:
        adjustment = by_line.get(change.address)
        if adjustment is not None and change.action == "create" and change.reason == "new":
            change = replace(change, reason="adjust", detail=adjustment.sentence())
        elif adjustment is not None and change.action == "update" and not change.detail:
            change = replace(change, detail=adjustment.sentence())
        elif change.action == "delete" and is_line(change.address):
            change = replace(
                change,
                detail=f"{corrected(change.address)} needs no adjusting line any more (the "
                "plan is back at its invoiced amount, or no longer adjusts it)",
            )
        fix = by_corrected.get(change.address)
        if fix is not None and change.label == "locked":
            change = replace(
                change,
                detail=f"already invoiced: billplan will not change it; {fix.address} bills "
                f"the difference",
            )
        changes.append(change)
    plan.changes = changes
    return plan


def _opted_in(resource: Resource) -> bool:
    # A grouped invoice (several items) is adjusted only if every charge on it asks.
    return bool(resource.items) and all(item.adjust in MODES for item in resource.items)


def _line_item(root: Resource, address: str, difference: Decimal, when: date) -> Item:
    """The adjusting line as an item: a one-off amount on the corrected object's charge and
    project, never grouped with other lines, never a percentage."""
    first = root.items[0]
    what = "; ".join(dict.fromkeys(item.description for item in root.items))
    if len(what) > DESCRIBED:
        what = what[: DESCRIBED - 1] + "…"
    options = {k: v for k, v in first.options.items() if k != "group_by"}
    return first._replace(
        address=address,
        kind="milestone",
        label=None,
        date=when,
        period=None,
        description=f"Adjustment to {what}",
        quantity=None,
        rate=None,
        amount=difference,
        task=None,
        percent=None,
        options=options,
    )


def _compile(item: Item, provider: Compiler, charge: Item) -> Resource:
    compiled, problems = provider.compile([item])
    if problems or len(compiled) != 1:
        why = "; ".join(message for _, message in problems) or "it compiled to no object"
        raise AdjustError(
            charge,
            f"{item.address}, the adjusting line billplan would make, cannot be made: {why}; "
            "change the charge, or leave `adjust` off it and bill the difference by hand",
        )
    return replace(compiled[0], fixed=provider.fixed_fields)


class _Later:
    """Each charge's planned objects in date order, to find the next open period."""

    def __init__(self, resources: Sequence[Resource], invoiced: _Invoiced, as_of: date) -> None:
        self.resources = resources
        self.invoiced = invoiced
        self.as_of = as_of
        self._by_charge: dict[str, list[Resource]] | None = None

    def open_date(self, resource: Resource) -> date:
        """The date of the next period of resource's charge that is not invoiced, on or after
        as-of; as-of when there is none (or it is no period of a repeating charge)."""
        first = resource.items[0] if resource.items else None
        if first is None or first.label is None or first.period is None or len(resource.items) > 1:
            return self.as_of
        after = resource.date or self.as_of
        for other in self._charge(resource.address):
            if (
                other.date is not None
                and other.date > after
                and other.date >= self.as_of
                and self.invoiced(other.address) is None
            ):
                return other.date
        return self.as_of

    def _charge(self, address: str) -> list[Resource]:
        if self._by_charge is None:
            grouped: dict[str, list[Resource]] = defaultdict(list)
            for resource in self.resources:
                grouped[_charge_of(resource.address)].append(resource)
            for group in grouped.values():
                group.sort(key=lambda r: (r.date or date.max, r.address))
            self._by_charge = dict(grouped)
        return self._by_charge.get(_charge_of(address), [])


class _Invoiced(Protocol):
    def __call__(self, address: str) -> Observed | None: ...


def _charge_of(address: str) -> str:
    # PROJECT/recurring/CHARGE/LABEL -> PROJECT/recurring/CHARGE
    return "/".join(address.split("/")[:3])


def _unread_lines(state: State, unread: Collection[str]) -> list[Entry]:
    return [e for e in state.entries.values() if e.provider in unread and is_line(e.address)]


def as_written(entry: Entry) -> Resource:
    """An adjusting line at a connection planned from state, as billplan last wrote it."""
    return Resource(
        address=entry.address,
        provider=entry.provider,
        type=entry.type,
        project=entry.project,
        project_id=entry.project_id,
        attributes=entry.attributes,
        date=entry.date,
        amount=entry.amount,
        currency=entry.currency,
    )
