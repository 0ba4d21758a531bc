"""What a vendor holds, read back in the plan's terms: a `Found` is one object as an Item would
say it (kind, date, description, amount, quantity, rate, the vendor options), with the
Observed it was read from; a `FoundProject` is one vendor project and every object in it.

Providers make them (`Provider.found`, `Provider.projects`); onboarding recognises charges in
them and writes the plan. They are values: nothing here talks to a vendor.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class FoundProject:
    project_id: str | int
    name: str
    currency: str
    objects: tuple[Found, ...]
