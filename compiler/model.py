"""The values that cross stages: an Item is one dated, priced, provider-neutral occurrence.

expand() produces Items; providers compile them into Resources. Items are immutable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from compiler.diagnostics import Mark
from compiler.schedule import Period

Kind = Literal["recurring", "milestone", "product"]
KINDS: tuple[Kind, ...] = ("recurring", "milestone", "product")
# The plan's section for each kind, which is also the middle of every address.
SECTION: dict[Kind, str] = {
    "recurring": "recurring",
    "milestone": "milestones",
    "product": "products",
}


@dataclass(frozen=True, slots=True)
class Item:
    address: str  # PROJECT/recurring/CHARGE/LABEL, PROJECT/milestones/CHARGE[/PART], ...
    project: str  # the plan's key for the project
    kind: Kind
    charge: str
    label: str | None  # period label, split part key, or None for a one-off
    date: date | None  # None only for an on-completion milestone
    period: Period | None
    description: str
    quantity: Decimal | None
    rate: Decimal | None
    amount: Decimal  # rounded to the currency's exponent
    currency: str
    provider: str  # the plan's name for the provider connection
    provider_type: str  # ruddr | kantata | wethod | coperniq
    project_id: str | int  # the vendor's id for the project
    task: str | int | None = None  # on_completion task (Kantata story) id
    percent: Decimal | None = None  # for percent-of-contract milestones
    options: Mapping[str, Any] = field(default_factory=dict)  # resolved provider options
    # Where each option was written (defaults, project, template or charge), for errors.
    option_marks: Mapping[str, Mark] = field(default_factory=dict, compare=False)
    mark: Mark | None = field(default=None, compare=False)  # where the charge is written
