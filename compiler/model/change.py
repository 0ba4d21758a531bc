"""The change model: what a plan says apply will do, object by object, and what that does to
the billing schedule. A Change is one object's change (its action, the vendor's object before,
the plan's after, the fields that differ, the dates and amounts on each Side); a Plan is every
change plus the remote objects billplan leaves alone (Unmanaged). diff makes them, render shows
them, planfile saves them, review compares two of them, apply carries them out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from compiler.credentials import Endpoint

Action = Literal["create", "update", "delete", "no-op", "locked", "adopt", "drift", "forget"]
WRITES: frozenset[str] = frozenset({"create", "update", "delete", "drift"})


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Side:
    """One side of a change, enough for the billing impact: when and how much."""

    date: date | None
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class Change:
    address: str
    action: Action
    provider: str
    type: str
    project: str
    project_id: str | int
    remote_id: str | None
    before: Mapping[str, Any] | None  # what the vendor holds now
    after: Mapping[str, Any] | None  # what billplan will hold it to
    fields: tuple[FieldChange, ...] = ()
    reason: str = ""
    moved_from: str | None = None  # paired occurrence: the address it replaces
    before_side: Side | None = None
    after_side: Side | None = None
    before_locked: bool = False


@dataclass(frozen=True)
class Unmanaged:
    """A remote object in a managed project that billplan did not create: never touched."""

    provider: str
    type: str
    project: str
    project_id: str | int
    remote_id: str
    attributes: Mapping[str, Any]
    locked: bool
    side: Side


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    unmanaged: list[Unmanaged] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # from providers, e.g. a low request budget
    moved: dict[str, str] = field(default_factory=dict)  # `moved:` renames: new address -> old
    targets: tuple[str, ...] = ()  # a partial plan: only these address prefixes (--target)
    excludes: tuple[str, ...] = ()  # ... and none under these (--exclude)
    # Where each connection's requests go, for the reviewer: set outside the plan, never by it.
    endpoints: list[Endpoint] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for change in self.changes if change.action == action)

    @property
    def has_changes(self) -> bool:
        """Anything for apply to do, at the vendors or in state (a `moved:` rename)."""
        return bool(self.moved) or any(
            c.action in WRITES or c.action in ("adopt", "forget") for c in self.changes
        )

    def summary(self) -> str:
        create = self.count("create")
        update = self.count("update") + self.count("drift")
        delete = self.count("delete")
        text = f"Plan: {create} to create, {update} to update, {delete} to delete"
        extras = [
            f"{self.count(action)} {label}"
            for action, label in (("adopt", "to adopt"), ("forget", "to forget"))
            if self.count(action)
        ]
        locked = self.count("locked")
        extras.append(f"{locked} locked")
        return text + ", " + ", ".join(extras) + "."

    def impact(self) -> Impact:
        return billing_impact(self.changes)


@dataclass(frozen=True)
class Impact:
    before: dict[str, Decimal]  # currency -> total scheduled now
    after: dict[str, Decimal]  # currency -> total scheduled after apply
    by_month: dict[tuple[str, str], Decimal]  # (YYYY-MM, currency) -> net change


def billing_impact(changes: Iterable[Change]) -> Impact:
    before: dict[str, Decimal] = defaultdict(Decimal)
    after: dict[str, Decimal] = defaultdict(Decimal)
    by_month: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for change in changes:
        old = change.before_side
        new = change.after_side
        if change.action in ("locked", "forget"):
            new = old  # a locked object stays as it is; a forgotten one is already gone
        if change.action == "delete":
            new = None
        for side, totals, sign in ((old, before, -1), (new, after, 1)):
            if side is None:
                continue
            totals[side.currency] += side.amount
            month = side.date.strftime("%Y-%m") if side.date else "on completion"
            by_month[(month, side.currency)] += sign * side.amount
    return Impact(
        before=dict(before),
        after=dict(after),
        by_month={key: value for key, value in sorted(by_month.items()) if value != 0},
    )
