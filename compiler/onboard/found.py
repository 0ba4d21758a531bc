"""What a vendor holds, read back in the plan's terms: a `Found` is one object as an Item would
say it (kind, date, description, amount, quantity, rate, the vendor options), with the
Observed it was read from; a `FoundProject` is one vendor project and every object in it.

Providers make them (`Provider.found`, `Provider.projects`); onboarding recognises charges in
them and writes the plan. They are values: nothing here talks to a vendor.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from compiler.model import Kind, Observed


@dataclass(frozen=True)
class Found:
    """One object a vendor holds, read back in the plan's terms (what an Item would say)."""

    remote_id: str
    type: str  # the provider's resource type, e.g. ruddr_invoice_milestone
    kind: Kind  # "recurring" | "milestone" | "product": what a plan writes
    date: date | None  # None: billed on completion of `task`
    task: str | int | None
    description: str
    amount: Decimal  # exact, in the currency's units
    quantity: Decimal | None
    rate: Decimal | None
    currency: str
    options: Mapping[str, Any]  # the vendor options the plan would need (invoice_item ...)
    locked: bool  # invoiced / sent / paid
    observed: Observed  # as listed, for writing state
    # A share of the project's contract value (Coperniq's PERCENTAGE invoice): the percent
    # a `percent` milestone writes, and the contract value it is of; amount is its worth.
    percent: Decimal | None = None
    contract_value: Decimal | None = None
    # Where state keeps it when compile makes one vendor object of several items (a Coperniq
    # invoice grouped by date: `PROJECT/invoices/DATE`, naming the plan's project); None: at
    # its item's own address.
    entry: str | None = None


@dataclass(frozen=True)
class FoundProject:
    project_id: str | int
    name: str
    currency: str
    objects: tuple[Found, ...]

    def key(self) -> str | None:
        """The project key the objects' grouped entries name, which the plan must use (the
        one most of them name); None when none is grouped."""
        named = Counter(o.entry.split("/", 1)[0] for o in self.objects if o.entry)
        return named.most_common(1)[0][0] if named else None

    def contract_value(self) -> Decimal | None:
        """The contract value the project's percent objects are shares of (the provider reads
        back only those of one value); None when there is none."""
        values = Counter(o.contract_value for o in self.objects if o.contract_value is not None)
        return values.most_common(1)[0][0] if values else None
